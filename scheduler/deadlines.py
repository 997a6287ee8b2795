"""Deadlines: every minute the leader asks each capability to close what is due (quizzes, group-buys)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from bot.config.core import Config
from bot.registry import DeadlineJob

log = logging.getLogger(__name__)


def run_deadlines(
    session_factory: sessionmaker[Session], config: Config, now: datetime, jobs: Sequence[tuple[str, DeadlineJob]]
) -> dict[str, int]:
    """Call every capability's deadline job; return how many each closed. One failing job does not stop the others."""
    closed: dict[str, int] = {}
    for name, close in jobs:
        try:
            closed[name] = int(close(session_factory, config, now) or 0)
        except Exception:
            log.exception("deadline job %s failed; it runs again next minute", name)
            continue
        if closed[name]:
            log.info("%s closed %d", name, closed[name])
    return closed
