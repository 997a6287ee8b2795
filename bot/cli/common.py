"""What every `groupbot` command shares: the --config option, loading it, opening the database, safe cells.

The registry of capabilities is not imported here: the entry point (`bot.cli.main`) puts it on
click's context, so capability commands can use these helpers without knowing the capability list.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import click
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import SystemClock
from bot.config.core import Config
from bot.config.holder import ConfigHolder
from bot.config.loader import ConfigError
from bot.registry import Registry
from bot.services import Services, build_services
from bot.text import storable
from models import migrate
from models.db import make_engine, make_session_factory

CSV_ENCODING = "utf-8-sig"  # the BOM makes Excel read Chinese names correctly
# A cell starting with one of these is a formula to Excel (=HYPERLINK(...), +cmd|...); an apostrophe makes it text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Invisible characters that may precede a formula: zero-width space, non-joiner, joiner, word joiner, BOM.
ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff")


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


def current_registry() -> Registry:
    """The registry the entry point put on click's context."""
    registry = click.get_current_context().find_object(Registry)
    if registry is None:  # pragma: no cover - only when a command is invoked without the entry point
        raise click.UsageError("groupbot commands run under the groupbot entry point")
    return registry


def _exit_on_config_error(exc: ConfigError) -> SystemExit:
    for problem in exc.problems:
        click.echo(str(problem), err=True)
    return SystemExit(2)


def load_or_exit(config_path: str) -> Config:
    """Load and validate the config; print each problem and exit 2 when it is invalid."""
    try:
        return current_registry().load_config(config_path)
    except ConfigError as exc:
        raise _exit_on_config_error(exc) from None


def holder_or_exit(config_path: str) -> ConfigHolder:
    """A holder of the config file that re-reads it on change; exit 2 when the first load fails."""
    try:
        return ConfigHolder(config_path, current_registry().load_config)
    except ConfigError as exc:
        raise _exit_on_config_error(exc) from None


def services_or_exit(config_path: str, *, on_queued: Callable[[], None] | None = None) -> Services:
    """Wire config, database, router and dispatcher for a long-running command; exit 2 on a bad config."""
    try:
        services = build_services(config_path, registry=current_registry(), clock=SystemClock(), on_queued=on_queued)
    except ConfigError as exc:
        raise _exit_on_config_error(exc) from None
    require_migrated(services.engine, config_path)
    return services


def require_migrated(engine: Engine, config_path: str) -> None:
    """Exit 2 with the command to run when the database schema is behind."""
    if not migrate.is_up_to_date(engine):
        click.echo(
            f"the database at {safe_url(engine.url.render_as_string(hide_password=False))} is not migrated; "
            f"run `groupbot db upgrade --config {config_path}` first",
            err=True,
        )
        raise SystemExit(2)


def safe_url(url: str) -> str:
    """The database URL with its password hidden."""
    return make_url(url).render_as_string(hide_password=True)


@contextmanager
def open_database(config_path: str) -> Iterator[tuple[Config, sessionmaker[Session]]]:
    """Load the config (exit 2 on errors), refuse an unmigrated database, and yield a session factory."""
    config = load_or_exit(config_path)
    engine = make_engine(config.database_url)
    try:
        require_migrated(engine, config_path)
        yield config, make_session_factory(engine)
    finally:
        engine.dispose()


def local_time(at: datetime | None, config: Config) -> str:
    """Show a stored UTC time in the configured time zone, or nothing."""
    return at.astimezone(config.zone).isoformat(timespec="seconds") if at else ""


def safe_cells(values: list[object]) -> list[object]:
    """Return `values` with every text that Excel would run as a formula made plain text; numbers stay numbers.

    Texts also lose the control characters xlsx cannot hold (a member name from group sync may carry one).
    """
    return [_safe_text(v) if isinstance(v, str) else v for v in values]


def _safe_text(value: str) -> str:
    value = storable(value)
    return f"'{value}" if _formula_start(value) else value


def _formula_start(value: str) -> bool:
    # Spreadsheet apps skip zero-width characters and read full-width ＝＋－＠ as their ASCII selves.
    first = value.lstrip("".join(ZERO_WIDTH) + " \u3000")[:1]
    return bool(first) and (first in FORMULA_STARTS or unicodedata.normalize("NFKC", first) in FORMULA_STARTS)
