"""Deadlines: every minute the leader asks each capability to close what is due (quizzes, group-buys)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from bot.config import Config
from scheduler.optional import resolve

log = logging.getLogger(__name__)

# Each is `close(session_factory, config, now) -> int` (how many it closed); absent capabilities are skipped.
CLOSERS: tuple[str, ...] = (
    "handlers.quiz:close_due_quizzes",
    "handlers.groupbuy:close_due_groupbuys",
)


def run_deadlines(
    session_factory: sessionmaker[Session], config: Config, now: datetime, closers: Sequence[str] = CLOSERS
) -> dict[str, int]:
    """Call every available closer; return how many each closed. One failing closer does not stop the others."""
    closed: dict[str, int] = {}
    for spec in closers:
        try:
            close = resolve(spec)
        except Exception:
            log.exception("cannot load deadline closer %s", spec)
            continue
        if close is None:
            continue
        try:
            closed[spec] = int(close(session_factory, config, now) or 0)
        except Exception:
            log.exception("deadline closer %s failed; it runs again next minute", spec)
            continue
        if closed[spec]:
            log.info("%s closed %d", spec, closed[spec])
    return closed
