"""`groupbot scheduler` (the scheduler in its own process) and `groupbot calendar preview`."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

import click

from bot.clock import SystemClock
from bot.config import Config
from bot.config_loader import locate

log = logging.getLogger("groupbot")


def echo_calendar_checks(config: Config, config_path: str) -> None:
    """Print the calendar's entries and its warnings (with file positions) for `check-config`."""
    from scheduler.checks import calendar_warnings
    from scheduler.preview import entry_times

    state = "on" if config.scheduler.enabled else "off (scheduler.enabled: false)"
    click.echo(f"  scheduler: {state}; calendar entries: {len(config.calendar)}")
    for entry in config.calendar:
        flag = "" if entry.enabled else " (disabled)"
        click.echo(f"  calendar {entry.id}: {entry_times(entry)}{flag}")
    for path, message in calendar_warnings(config, SystemClock().now()):
        where = locate(Path(config_path), path)
        click.echo(f"  warning: {where.file}:{where.line}:{where.column}: {where.path}: {message}")


def register(main: click.Group) -> None:
    """Add `scheduler` and `calendar` to `main`."""
    from bot.cli import config_option

    @main.command("scheduler")
    @config_option
    def run_scheduler(config_path: str) -> None:
        """Run the scheduler (calendar, deadlines, reactivation) in this process; a second one stands by."""
        from bot.cli import _services
        from bot.config_holder import ConfigWatcher
        from scheduler.runner import Scheduler

        services = _services(config_path)
        if not services.config().scheduler.enabled:
            click.echo("scheduler.enabled is false in the config; nothing to run", err=True)
            raise SystemExit(2)
        watcher = ConfigWatcher(services.holder)
        watcher.start()
        scheduler = Scheduler(services.session_factory, services.config, services.clock)
        stopping = threading.Event()

        def stop(_signum: int, _frame: object) -> None:
            stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        scheduler.start()
        try:
            while not stopping.wait(1.0):
                pass
        finally:
            scheduler.stop()
            watcher.stop()
            services.engine.dispose()
            log.info("scheduler stopped")

    @main.group()
    def calendar() -> None:
        """The content calendar."""

    @calendar.command("preview")
    @config_option
    @click.option("--days", default=7, show_default=True, type=click.IntRange(1, 92), help="How many days ahead.")
    def preview(config_path: str, days: int) -> None:
        """Show, per day, what goes to which group through which transport; flag groups over their cap."""
        from bot.cli_support import open_database
        from scheduler.preview import plan

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
