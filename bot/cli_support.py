"""What the CLI's capability commands share: opening the configured database, and spreadsheet-safe cells."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from bot.config import Config
from bot.storable import storable
from models.db import make_engine, make_session_factory

CSV_ENCODING = "utf-8-sig"  # the BOM makes Excel read Chinese names correctly
# A cell starting with one of these is a formula to Excel (=HYPERLINK(...), +cmd|...); an apostrophe makes it text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Invisible characters that may precede a formula: zero-width space, non-joiner, joiner, word joiner, BOM.
ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff")


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
