"""The `groupbot` command line."""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path
from types import FrameType

import click
from sqlalchemy.engine import Engine, make_url

from bot.clock import SystemClock
from bot.config import Config
from bot.config_holder import ConfigWatcher
from bot.config_loader import ConfigError
from bot.group_features import group_features
from bot.registry import Registry
from bot.router import normalise_word
from bot.services import Services, build_services, config_loader
from handlers import load_handlers
from models import migrate
from models.db import make_engine

log = logging.getLogger("groupbot")


def default_config_path() -> str:
    """GROUPBOT_CONFIG, else ./config.yaml, else the shipped ./config.example.yaml."""
    env = os.environ.get("GROUPBOT_CONFIG")
    if env:
        return env
    return "config.yaml" if Path("config.yaml").exists() else "config.example.yaml"


config_option = click.option(
    "--config",
    "config_path",
    default=default_config_path,
    show_default="$GROUPBOT_CONFIG, else config.yaml, else config.example.yaml",
    type=click.Path(dir_okay=False),
    help="The YAML config file.",
)


def _setup_logging() -> None:
    logging.basicConfig(
        level=os.environ.get("GROUPBOT_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Alembic narrates every schema check; only `db upgrade` should say what it migrated.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # APScheduler logs every run of every job (the lease every few seconds); its warnings (misfires) stay.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def _load(config_path: str) -> Config:
    try:
        return config_loader(load_handlers())(config_path)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise SystemExit(2) from None


def _services(config_path: str, *, on_queued=None) -> Services:  # type: ignore[no-untyped-def]
    try:
        services = build_services(config_path, registry=load_handlers(), clock=SystemClock(), on_queued=on_queued)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise SystemExit(2) from None
    _require_migrated(services.engine, config_path)
    return services


def _require_migrated(engine: Engine, config_path: str) -> None:
    if not migrate.is_up_to_date(engine):
        click.echo(
            f"the database at {_safe_url(engine.url.render_as_string(hide_password=False))} is not migrated; "
            f"run `groupbot db upgrade --config {config_path}` first",
            err=True,
        )
        raise SystemExit(2)


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@click.group()
def main() -> None:
    """wecom-groupbot: a WeCom group assistant for community commerce."""
    _setup_logging()


@main.command()
@config_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int, help="HTTP worker threads.")
@click.option("--no-drainer", is_flag=True, help="Do not deliver the outbox from this process.")
@click.option("--no-scheduler", is_flag=True, help="Do not run the scheduler here (run `groupbot scheduler`).")
def serve(config_path: str, host: str, port: int, threads: int, no_drainer: bool, no_scheduler: bool) -> None:
    """Serve the WeCom callbacks and deliver the outbox (one machine, one process)."""
    import waitress

    from bot.app import create_app
    from bot.outbox import Drainer, make_transport

    drainer_ref: list[Drainer] = []
    services = _services(config_path, on_queued=lambda: drainer_ref[0].wake() if drainer_ref else None)
    config = services.config()
    watcher = ConfigWatcher(services.holder)
    watcher.start()
    if not no_drainer:
        transport = make_transport(
            config, session_factory=services.session_factory, clock=services.clock, current=services.config
        )
        drainer = Drainer(services.session_factory, transport, config.outbox, services.clock)
        drainer_ref.append(drainer)
        drainer.start()
    jobs = None
    if not no_scheduler and config.scheduler.enabled:
        from scheduler.runner import Scheduler

        jobs = Scheduler(services.session_factory, services.config, services.clock)
        jobs.start()
    for channel, ready in (
        ("app /wecom/callback", config.wecom.callback_ready),
        ("aibot /wecom/aibot", config.aibot.callback_ready),
    ):
        log.info("channel %s: %s", channel, "ready" if ready else "not configured (answers 503)")
    log.info("serving on http://%s:%s with %s (database %s)", host, port, config_path, _safe_url(config.database_url))

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
        log.info("stopped")


@main.command()
@config_option
@click.option("--once", is_flag=True, help="Deliver what is due now and exit.")
def drain(config_path: str, once: bool) -> None:
    """Deliver the outbox (for hosts that run HTTP under gunicorn)."""
    from bot.outbox import Drainer, drain_once, make_transport

    services = _services(config_path)
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
    drainer = Drainer(services.session_factory, transport, config.outbox, services.clock)
    drainer.start()
    signal.signal(signal.SIGTERM, lambda *_: drainer.stop())
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        drainer.stop()


@main.command()
@config_option
@click.option("--group", default="rehearsal-group", show_default=True, help="Chat id of the rehearsed group.")
@click.option("--user", default="rehearsal-member", show_default=True, help="WeCom userid you speak as.")
def chat(config_path: str, group: str, user: str) -> None:
    """Talk to the bot in the terminal, through the same router and database."""
    from bot.console_chat import run_chat

    services = _services(config_path)
    run_chat(services, group=group or None, user=user, lines=sys.stdin, write=click.echo)


@main.command("check-config")
@config_option
def check_config(config_path: str) -> None:
    """Validate the config file and say what each channel will do."""
    config = _load(config_path)
    registry = load_handlers()
    click.echo(f"{config_path}: OK")
    click.echo(f"  timezone: {config.timezone}")
    click.echo(f"  database: {_safe_url(config.database_url)}")
    app_state = (
        "ready"
        if config.wecom.callback_ready
        else "not configured: answers 503 (set wecom.corp_id, token, encoding_aes_key)"
    )
    aibot_state = (
        "ready" if config.aibot.callback_ready else "not configured: answers 503 (set aibot.token, encoding_aes_key)"
    )
    click.echo(f"  app callback /wecom/callback: {app_state}")
    click.echo(f"  aibot callback /wecom/aibot: {aibot_state}")
    click.echo(f"  outbox transport: {config.outbox.transport}")
    click.echo(f"  admins: {len(config.roles.admins)}, guides: {len(config.roles.guides)}")
    for command in registry.resolved(config):
        aliases = f" ({', '.join(command.aliases)})" if command.aliases else ""
        click.echo(f"  command {command.name}{aliases}: {command.role}")
    click.echo(f"  keyword rules: {len(config.keywords)}")
    shadowed = sorted(_keywords_shadowed_by_commands(config, registry))
    for word in shadowed:
        click.echo(f"  keyword {word!r} never answers: the command of that name is matched first")
    if not config.groups:
        click.echo("  groups: none listed (chats the bot hears of are recorded as discovered)")
    for group in config.groups:
        click.echo(f"  group {group.name} ({group.chat_id}, {group.kind}, push {group.push}):")
        for feature in group_features(config, group):
            click.echo(f"    {feature.feature}: {feature.state} - {feature.why}")
    from bot.cli_scheduler import echo_calendar_checks

    echo_calendar_checks(config, config_path)
    from bot.config_guard import read_held

    held = read_held(Path(config_path))
    if held is not None:
        click.echo(f"  held back by the running service: {held.describe()}")


def _keywords_shadowed_by_commands(config: Config, registry: Registry) -> set[str]:
    """Exact keyword words that are also command words: the command always wins, so the keyword is dead."""
    words = (word for command in registry.resolved(config) for word in (command.name, *command.aliases))
    names = {normalise_word(word.strip()) for word in words}
    exact = (word for rule in config.keywords if rule.mode == "exact" for word in rule.match)
    return {word for word in exact if normalise_word(word.strip()) in names}


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@config_option
def db_upgrade(config_path: str) -> None:
    """Create or migrate the database schema to the newest version."""
    config = _load(config_path)
    engine = make_engine(config.database_url)
    logging.getLogger("alembic").setLevel(logging.INFO)
    migrate.upgrade(engine)
    click.echo(f"database {_safe_url(config.database_url)} is at revision {migrate.current_revision(engine)}")


from bot import cli_outbound  # noqa: E402

cli_outbound.register(main)
from bot import cli_points  # noqa: E402

cli_points.register(main)
from bot import cli_members  # noqa: E402

cli_members.register(main)

from bot import cli_scheduler  # noqa: E402

cli_scheduler.register(main)

from bot import cli_reports  # noqa: E402

cli_reports.register(main)
from bot import cli_quiz  # noqa: E402

cli_quiz.register(main)
from bot import cli_groupbuy  # noqa: E402

cli_groupbuy.register(main)
from bot import cli_reactivation  # noqa: E402

cli_reactivation.register(main)
from bot import cli_reload  # noqa: E402

cli_reload.register(main, config_option, _load)


if __name__ == "__main__":  # pragma: no cover
    main()
