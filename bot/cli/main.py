"""The `groupbot` command line: the entry point, and with wsgi the composition root of the capabilities."""

from __future__ import annotations

import logging
import os
import signal
from types import FrameType

import click
import waitress

from bot.app import create_app
from bot.cli.chat import chat
from bot.cli.check_config import check_config
from bot.cli.common import config_option, load_or_exit, safe_url, services_or_exit
from bot.cli.outbox import outbox
from bot.cli.reload import reload
from bot.cli.reports import report
from bot.cli.send import send
from bot.cli.web import web
from bot.config.holder import ConfigWatcher
from bot.inbound.aibot_longconn import LEASE_NAME as AIBOT_LEASE
from bot.inbound.aibot_longconn import AibotLongConnection
from bot.registry import Registry
from bot.services import Services
from bot.telemetry.logs import FORMATS, setup_logging
from bot.transports.drainer import Drainer, drain_once, make_transport
from handlers import CAPABILITIES
from models import migrate
from models.db import make_engine
from scheduler.config import SCHEDULER_SECTION
from scheduler.leader import Leadership
from scheduler.runner import scheduler_for

log = logging.getLogger("groupbot")
REGISTRY = Registry.of(CAPABILITIES)


@click.group()
@click.option(
    "--log-format",
    type=click.Choice(FORMATS),
    default="text",
    envvar="GROUPBOT_LOG_FORMAT",
    show_default=True,
    help="text for a terminal; json for one JSON object per line (request id, de-dup key, outcome, duration).",
)
@click.pass_context
def main(ctx: click.Context, log_format: str) -> None:
    """wecom-groupbot: a WeCom group assistant for community commerce."""
    setup_logging(log_format, os.environ.get("GROUPBOT_LOG_LEVEL", "INFO"))
    # Commands find the capabilities here (bot.cli.common.current_registry), never by importing them.
    ctx.obj = REGISTRY


def aibot_connection(services: Services) -> AibotLongConnection:
    """The aibot long connection, held through the same database lease mechanism as the scheduler's leader."""
    lease = Leadership(
        services.session_factory,
        services.config,
        services.clock,
        name=AIBOT_LEASE,
        lease_seconds=lambda: services.config().aibot.lease_seconds,
    )
    return AibotLongConnection(services, lease)


@main.command()
@config_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int, help="HTTP worker threads.")
@click.option("--no-drainer", is_flag=True, help="Do not deliver the outbox from this process.")
@click.option("--no-scheduler", is_flag=True, help="Do not run the scheduler here (run `groupbot scheduler`).")
@click.option("--no-aibot", is_flag=True, help="Do not hold the aibot long connection here (aibot.mode: websocket).")
def serve(
    config_path: str, host: str, port: int, threads: int, no_drainer: bool, no_scheduler: bool, no_aibot: bool
) -> None:
    """Serve the WeCom callbacks and deliver the outbox (one machine, one process)."""
    drainer_ref: list[Drainer] = []
    services = services_or_exit(config_path, on_queued=lambda: drainer_ref[0].wake() if drainer_ref else None)
    config = services.config()
    watcher = ConfigWatcher(services.holder)
    watcher.start()
    if not no_drainer:
        transport = make_transport(
            config, session_factory=services.session_factory, clock=services.clock, current=services.config
        )
        drainer = Drainer(
            services.session_factory, transport, config.outbox, services.clock, workers=REGISTRY.workers()
        )
        drainer_ref.append(drainer)
        drainer.start()
    jobs = None
    if not no_scheduler and SCHEDULER_SECTION.of(config).enabled:
        jobs = scheduler_for(services)
        jobs.start()
    longconn = None
    if not no_aibot and config.aibot.websocket_ready:
        longconn = aibot_connection(services)
        longconn.start()
    for channel, ready in (
        ("app /wecom/callback", config.wecom.callback_ready),
        ("aibot /wecom/aibot", config.aibot.callback_ready),
        ("aibot long connection", config.aibot.websocket_ready and not no_aibot),
    ):
        log.info("channel %s: %s", channel, "ready" if ready else "not configured (answers 503)")
    log.info("serving on http://%s:%s with %s (database %s)", host, port, config_path, safe_url(config.database_url))

    def stop(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        waitress.serve(
            create_app(services),
            host=host,
            port=port,
            threads=threads,
            ident="groupbot",
            # waitress buffers up to 1 GiB by default; nothing WeCom sends comes near 1 MiB.
            max_request_body_size=1024 * 1024,
        )
    except KeyboardInterrupt:
        pass
    finally:
        watcher.stop()
        for drainer in drainer_ref:
            drainer.stop()
        if jobs is not None:
            jobs.stop()  # releases the lease so a standby takes over at once
        if longconn is not None:
            longconn.stop()  # releases its lease too
        log.info("stopped")


@main.command()
@config_option
@click.option("--once", is_flag=True, help="Deliver what is due now and exit.")
def drain(config_path: str, once: bool) -> None:
    """Deliver the outbox (for hosts that run HTTP under gunicorn)."""
    services = services_or_exit(config_path)
    config = services.config()
    transport = make_transport(
        config, session_factory=services.session_factory, clock=services.clock, current=services.config
    )
    if once:
        report = drain_once(services.session_factory, transport, config.outbox, services.clock)
        click.echo(
            f"claimed {report.claimed}, sent {report.sent}, retried {report.retried}, failed {report.failed}, "
            f"waiting (limits, quiet hours) {report.deferred}"
        )
        return
    drainer = Drainer(services.session_factory, transport, config.outbox, services.clock, workers=REGISTRY.workers())
    drainer.start()
    signal.signal(signal.SIGTERM, lambda *_: drainer.stop())
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        drainer.stop()


@main.command("aibot")
@config_option
def aibot_command(config_path: str) -> None:
    """Hold the aibot long connection (aibot.mode: websocket), or stand by while another process holds it."""
    services = services_or_exit(config_path)
    if not services.config().aibot.websocket_ready:
        raise click.UsageError("aibot.mode is not websocket (or aibot.bot_id / aibot.secret are empty)")
    longconn = aibot_connection(services)
    longconn.start()
    signal.signal(signal.SIGTERM, lambda *_: longconn.stop())
    try:
        while longconn.running:
            longconn.wait(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        longconn.stop()


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@config_option
def db_upgrade(config_path: str) -> None:
    """Create or migrate the database schema to the newest version."""
    config = load_or_exit(config_path)
    engine = make_engine(config.database_url)
    logging.getLogger("alembic").setLevel(logging.INFO)
    migrate.upgrade(engine)
    click.echo(f"database {safe_url(config.database_url)} is at revision {migrate.current_revision(engine)}")


for command in (chat, check_config, outbox, reload, report, send, web, *REGISTRY.cli_commands()):
    main.add_command(command)
for command in REGISTRY.report_commands():
    report.add_command(command)


if __name__ == "__main__":  # pragma: no cover
    main()
