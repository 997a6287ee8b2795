"""`groupbot groups`: every group the YAML lists or the bot has heard of, with its member figures."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import timedelta

import click
from sqlalchemy.orm import Session, sessionmaker

from bot.cli.common import config_option, default_config_path, open_database
from bot.clock import SystemClock
from bot.config.core import Config
from bot.transports.base import DeliveryError
from bot.transports.wecom import build_wecom_transport
from handlers.members.config import MEMBERS_SECTION
from handlers.members.group_sync import list_chats, sync_chat
from handlers.members.welcome_sync import sync_welcomes
from models.membership import change_counts, known_groups, member_count


@dataclass(frozen=True)
class GroupLine:
    chat_id: str
    name: str
    kind: str
    members: int
    joined_7d: int
    left_7d: int
    configured: bool
    push: str
    guide: str
    dismissed: bool
    warning: str


@click.group("groups", invoke_without_command=True)
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per group.")
@click.pass_context
def groups(ctx: click.Context, config_path: str, as_json: bool) -> None:
    """List configured and discovered groups: members now, joined and left in the last 7 days."""
    if ctx.invoked_subcommand is not None:
        return
    with open_database(config_path) as (config, factory):
        now = SystemClock().now()
        with factory() as session:
            heard = {group.chat_id: group for group in known_groups(session)}
            chat_ids = [g.chat_id for g in config.groups] + [c for c in heard if config.group(c) is None]
            lines = []
            for chat_id in chat_ids:
                configured = config.group(chat_id)
                seen = heard.get(chat_id)
                joined, left = change_counts(session, chat_id, since=now - timedelta(days=7), until=now)
                warning = ""
                if configured is not None and configured.push == "webhook" and not configured.webhook_key:
                    warning = "push: webhook but webhook_key is empty; messages to this group fail until it is set"
                elif configured is None:
                    warning = "not in groups: (add it to give it a name, guide and push)"
                lines.append(
                    GroupLine(
                        chat_id=chat_id,
                        name=configured.name if configured else (seen.name if seen and seen.name else ""),
                        kind=configured.kind if configured else "unknown",
                        members=member_count(
                            session, chat_id, () if config.roles.staff_on_boards else config.roles.staff
                        ),
                        joined_7d=joined,
                        left_7d=left,
                        configured=configured is not None,
                        push=configured.push if configured else "",
                        guide=(configured.guide or "") if configured else "",
                        dismissed=bool(seen and seen.dismissed_at),
                        warning=warning,
                    )
                )
    for line in lines:
        if as_json:
            click.echo(json.dumps(asdict(line), ensure_ascii=False))
            continue
        status = "configured" if line.configured else "discovered"
        click.echo(
            f"{line.name or '-'} ({line.chat_id})  {line.kind}  {status}"
            + (f"  push={line.push}" if line.push else "")
            + (f"  guide={line.guide}" if line.guide else "")
            + f"  members={line.members}  7d: +{line.joined_7d} -{line.left_7d}"
            + ("  DISMISSED" if line.dismissed else "")
            + (f"  ({line.warning})" if line.warning else "")
        )
    if not lines and not as_json:
        click.echo("no groups configured or heard of yet")


@groups.command("sync")
@click.option("--config", "config_path", default=None, type=click.Path(dir_okay=False), help="The YAML config file.")
@click.option("--all", "sync_all", is_flag=True, help="Every known customer group and every one WeCom lists.")
@click.argument("chat_ids", nargs=-1)
@click.pass_context
def groups_sync(ctx: click.Context, config_path: str | None, sync_all: bool, chat_ids: tuple[str, ...]) -> None:
    """Read groups back from WeCom (groupchat/get): names, inviters, members missed or gone."""
    config_path = config_path or (ctx.parent.params["config_path"] if ctx.parent else default_config_path())
    if not chat_ids and not sync_all:
        raise click.UsageError("name the chats to sync (CHAT_ID ...) or use --all")
    with open_database(config_path) as (config, factory):
        failed = _sync_groups(config, factory, list(chat_ids), sync_all)
    if failed:
        raise SystemExit(1)


def _sync_groups(config: Config, factory: sessionmaker[Session], named: list[str], sync_all: bool) -> bool:
    """Sync the named chats (and with `sync_all` every known and listed one), printing each; True if any failed."""
    clock = SystemClock()
    try:
        api = build_wecom_transport(lambda: config, factory, clock).api
    except ValueError as exc:
        click.echo(f"cannot sync: {exc}", err=True)
        return True
    targets = list(named)
    if sync_all:
        with factory() as session:
            heard = [group.chat_id for group in known_groups(session)]
        customer = [g.chat_id for g in config.groups if g.kind == "customer"]
        targets += customer + [c for c in heard if config.group(c) is None]
        try:
            # The guides own the customer groups; filtering by them keeps big corps clear of 81017.
            owners = list(dict.fromkeys([*config.roles.guides, *(g.guide for g in config.groups if g.guide)]))
            targets += list_chats(api, owners or None)
        except DeliveryError as exc:
            click.echo(f"groupchat/list failed: {exc}", err=True)
            return True
    failed = False
    changed = 0
    for chat_id in dict.fromkeys(targets):
        try:
            result = sync_chat(api, factory, config, clock, chat_id)
        except DeliveryError as exc:
            click.echo(f"{chat_id}: failed: {exc}", err=True)
            failed = True
            if not exc.transient:
                # A refusal (no permission, wrong credentials) is the same for every chat: stop here.
                return True
            continue
        click.echo(result.describe())
        changed += result.changed
        # A chat the operator named that WeCom does not know is a failure; one only heard of is just reported.
        failed = failed or bool(result.gone and chat_id in named)
    click.echo(f"synced {len(dict.fromkeys(targets))} chat(s), {changed} changed")
    return failed


@click.group("welcome")
def welcome_cli() -> None:
    """Customer groups' native welcome (入群欢迎语) in WeCom."""


@welcome_cli.command("sync")
@config_option
def welcome_sync(config_path: str) -> None:
    """Write each customer group's welcome text to its WeCom 入群欢迎语 template (add, or edit on change)."""
    with open_database(config_path) as (config, factory):
        if MEMBERS_SECTION.of(config).welcome.mode != "native":
            click.echo("note: members.welcome.mode is not native, so the bot also queues welcomes itself", err=True)
        try:
            api = build_wecom_transport(lambda: config, factory, SystemClock()).api
        except ValueError as exc:
            raise click.UsageError(f"cannot sync: {exc}") from exc
        lines = sync_welcomes(api, factory, config, SystemClock().now())
    for line in lines:
        shown = f"{line.name} ({line.chat_id}): {line.action}"
        click.echo(
            shown + (f" as {line.template_id}" if line.template_id else "") + (f": {line.error}" if line.error else "")
        )
    if not lines:
        click.echo("no customer groups (kind: customer) in groups:")
    click.echo("the group owner applies the template in WeCom: 客户群 → 群设置 → 入群欢迎语")
    if any(line.action == "failed" for line in lines):
        raise SystemExit(1)
