"""`groupbot send`: an operator's announcement, queued through each group's own push route."""

from __future__ import annotations

import uuid
from typing import Literal

import click

from bot.cli.common import config_option, open_database
from bot.clock import SystemClock
from bot.config.core import Config, GroupConfig
from bot.outbox import queue_reply
from bot.replies import Reply
from bot.transports import sizes


def chosen_groups(config: Config, names: tuple[str, ...], tags: tuple[str, ...], everyone: bool) -> list[GroupConfig]:
    """Return the configured groups named (by name or chat id), tagged, or all of them, in config order."""
    if everyone:
        return list(config.groups)
    unknown = [n for n in names if not any(n in (g.name, g.chat_id) for g in config.groups)]
    if unknown:
        raise click.UsageError(f"no group named {', '.join(unknown)} under groups:")
    picked = [g for g in config.groups if g.name in names or g.chat_id in names or set(g.tags) & set(tags)]
    if not picked:
        raise click.UsageError("no group matches; use --group NAME, --tag TAG or --all")
    return picked


def parts_on(group: GroupConfig, text: str, msgtype: str) -> int:
    """How many messages the text becomes on the group's route (task: one, cut if too long)."""
    if group.push == "customer_task":
        return 1
    return len(sizes.fit(text, sizes.limit_for(group.push, msgtype)))


@click.command("send")
@config_option
@click.option("--group", "names", multiple=True, help="A group's name or chat id (repeatable).")
@click.option("--tag", "tags", multiple=True, help="Every group with this tag (repeatable).")
@click.option("--all", "everyone", is_flag=True, help="Every group under groups:.")
@click.option("--markdown", is_flag=True, help="Send as markdown (routes without markdown send it as text).")
@click.option("--now", "right_now", is_flag=True, help="Do not wait for quiet hours (internal groups only).")
@click.argument("text")
def send(
    config_path: str,
    names: tuple[str, ...],
    tags: tuple[str, ...],
    everyone: bool,
    markdown: bool,
    right_now: bool,
    text: str,
) -> None:
    """Queue an announcement for groups through each group's push route, under the usual limits.

    Internal groups get it by their robot (webhook), appchat or the aibot; customer groups by a task their
    guide confirms (one task for all of a guide's groups). Quiet hours hold it back unless --now (internal
    groups only: a customer task waits for the guide anyway). Long text is split on lines to fit each route.
    """
    if not text.strip():
        raise click.UsageError("the announcement is empty")
    with open_database(config_path) as (config, factory):
        groups = chosen_groups(config, names, tags, everyone)
        msgtype: Literal["text", "markdown"] = "markdown" if markdown else "text"
        origin = f"announce:{uuid.uuid4().hex[:12]}"
        now = SystemClock().now()
        queued: list[tuple[GroupConfig, int, bool]] = []
        with factory.begin() as session:
            for group in groups:
                urgent = right_now and group.kind == "internal"
                row = queue_reply(
                    session, Reply(text, to_chat=group.chat_id, msgtype=msgtype), now, origin=origin, urgent=urgent
                )
                if row is not None:
                    queued.append((group, row.id, urgent))
    for group, row_id, urgent in queued:
        count = parts_on(group, text, msgtype)
        how = f"{count} messages" if count > 1 else "1 message"
        when = "now" if urgent else "after quiet hours if they are on"
        click.echo(f"#{row_id} → {group.name} ({group.chat_id}) via {group.push}: {how}, {when}")
    if right_now and any(g.kind == "customer" for g, _, _ in queued):
        click.echo("note: --now does not apply to customer groups; their guide confirms the task", err=True)
    click.echo(f"queued {len(queued)} announcement(s) ({origin}); `groupbot drain` or `serve` delivers them")
