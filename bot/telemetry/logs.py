"""Logging setup: text for a terminal (the default), or one JSON object per line for a log pipeline."""

from __future__ import annotations

import logging
import sys
from typing import Literal

from pythonjsonlogger.json import JsonFormatter

from bot.telemetry.context import current

LogFormat = Literal["text", "json"]
FORMATS: tuple[LogFormat, ...] = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Fields every JSON line carries; a callback's line adds request_id, channel, dedup_key, chat_id, user_id,
# outcome, status and duration_ms (see bot.telemetry.web).
JSON_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class RequestIdFilter(logging.Filter):
    """Stamp every record logged while a callback is served with that callback's request id."""

    def filter(self, record: logging.LogRecord) -> bool:
        served = current()
        if served is not None and not hasattr(record, "request_id"):
            record.request_id = served.request_id
        return True


def json_formatter() -> logging.Formatter:
    return JsonFormatter(
        JSON_FORMAT,
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        json_ensure_ascii=False,
    )


def setup_logging(fmt: str = "text", level: str = "INFO") -> None:
    """Send the service's logs to stderr as text or JSON lines; quiet the chattiest libraries.

    Like logging.basicConfig, it leaves a root logger that someone else already set up (a test runner,
    an embedding program) alone; only a handler it installed itself is replaced.
    """
    root = logging.getLogger()
    if any(not getattr(h, "groupbot", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(json_formatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RequestIdFilter())
    handler.groupbot = True  # type: ignore[attr-defined]
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Alembic narrates every schema check; only `db upgrade` should say what it migrated.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # APScheduler logs every run of every job (the lease every few seconds); its warnings (misfires) stay.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
