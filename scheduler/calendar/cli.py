"""`groupbot calendar preview`, and the calendar's lines in `groupbot check-config`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click

from bot.cli.common import config_option, open_database
from bot.clock import SystemClock
from bot.config.core import Config
from bot.config.loader import locate
from scheduler.calendar.checks import calendar_warnings
from scheduler.calendar.config import CALENDAR_SECTION
from scheduler.calendar.preview import entry_times, plan
from scheduler.config import SCHEDULER_SECTION


def calendar_check_lines(config: Config, config_path: Path) -> Iterator[str]:
    """The calendar's entries and its warnings (with file positions), for `check-config`."""
    state = "on" if SCHEDULER_SECTION.of(config).enabled else "off (scheduler.enabled: false)"
    yield f"  scheduler: {state}; calendar entries: {len(CALENDAR_SECTION.of(config))}"
    for entry in CALENDAR_SECTION.of(config):
        flag = "" if entry.enabled else " (disabled)"
        yield f"  calendar {entry.id}: {entry_times(entry)}{flag}"
    for path, message in calendar_warnings(config, SystemClock().now()):
        where = locate(config_path, path)
        yield f"  warning: {where.file}:{where.line}:{where.column}: {where.path}: {message}"


@click.group()
def calendar() -> None:
    """The content calendar."""


@calendar.command("preview")
@config_option
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 92), help="How many days ahead.")
def preview(config_path: str, days: int) -> None:
    """Show, per day, what goes to which group through which transport; flag groups over their cap."""
    with open_database(config_path) as (config, factory), factory() as session:
        days_plan = plan(session, config, SystemClock().now(), days)
    over = 0
    for day in days_plan:
        names = config.texts.render("calendar_weekday_names").split()
        click.echo(f"{day.day.isoformat()} {names[day.day.weekday()]}: {len(day.posts)} post(s)")
        for post in day.posts:
            notes = []
            if post.done:
                notes.append("already done")
            if post.quiet_until is not None:
                notes.append(f"quiet hours: waits until {post.quiet_until:%H:%M}")
            if post.cap_note:
                over += 1
                notes.append(f"OVER CAP: {post.cap_note}")
            tail = f"  [{'; '.join(notes)}]" if notes else ""
            click.echo(
                f"  {post.at:%H:%M} {post.entry_id} → {post.group} ({post.chat_id}) via {post.transport}, "
                f"{post.msgtype}: {post.summary}{tail}"
            )
    if over:
        click.echo(f"{over} post(s) would exceed a customer group's monthly task cap", err=True)
