"""`groupbot scheduler`: the scheduler in its own process (calendar, deadlines, reactivation)."""

from __future__ import annotations

import logging
import signal
import threading

import click

from bot.cli.common import config_option, services_or_exit
from bot.config.holder import ConfigWatcher
from scheduler.config import SCHEDULER_SECTION

log = logging.getLogger("groupbot")


@click.command("scheduler")
@config_option
def run_scheduler(config_path: str) -> None:
    """Run the scheduler (calendar, deadlines, reactivation) in this process; a second one stands by."""
    # Loaded here, not at import: the gunicorn entry point declares this command but must never load APScheduler.
    from scheduler.runner import scheduler_for

    services = services_or_exit(config_path)
    if not SCHEDULER_SECTION.of(services.config()).enabled:
        click.echo("scheduler.enabled is false in the config; nothing to run", err=True)
        raise SystemExit(2)
    watcher = ConfigWatcher(services.holder)
    watcher.start()
    scheduler = scheduler_for(services)
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
