"""What the CLI's capability commands share: opening the configured database, and spreadsheet-safe cells."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from bot.config import Config
from models.db import make_engine, make_session_factory

CSV_ENCODING = "utf-8-sig"  # the BOM makes Excel read Chinese names correctly
# A cell starting with one of these is a formula to Excel (=HYPERLINK(...), +cmd|...); an apostrophe makes it text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@contextmanager
def open_database(config_path: str) -> Iterator[tuple[Config, sessionmaker[Session]]]:
    """Load the config (exit 2 on errors), refuse an unmigrated database, and yield a session factory."""
    from bot.cli import _load, _require_migrated

    config = _load(config_path)
    engine = make_engine(config.database_url)
    try:
        _require_migrated(engine, config_path)
        yield config, make_session_factory(engine)
    finally:
        engine.dispose()


def local_time(at: datetime | None, config: Config) -> str:
    """Show a stored UTC time in the configured time zone, or nothing."""
    return at.astimezone(config.zone).isoformat(timespec="seconds") if at else ""


def safe_cells(values: list[object]) -> list[object]:
    """Return `values` with every text that Excel would run as a formula made plain text; numbers stay numbers."""
    return [f"'{v}" if isinstance(v, str) and v.startswith(FORMULA_STARTS) else v for v in values]
