"""Stand-ins for the jobs capabilities declare, handed to the scheduler as the registry hands the real ones."""

from __future__ import annotations

from datetime import datetime
from typing import Any

CALLS: list[tuple[str, datetime]] = []


def close_due(session_factory: Any, config: Any, now: datetime) -> int:
    CALLS.append(("close_due", now))
    return 2


def close_broken(session_factory: Any, config: Any, now: datetime) -> int:
    CALLS.append(("close_broken", now))
    raise RuntimeError("closer bug")


def run_reactivation(session_factory: Any, config: Any, now: datetime) -> str:
    CALLS.append(("reactivation", now))
    return "nudged"
