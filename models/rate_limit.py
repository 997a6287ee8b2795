"""Rate-limit budgets as counted windows in the database, so every drainer and every restart sees them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, String, delete, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, UTCDateTime, insert_if_absent, rowcount


class RateLimitWindow(Base):
    __tablename__ = "rate_limit_windows"
    __table_args__ = (CheckConstraint("used >= 0", name="used"),)

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    used: Mapped[int] = mapped_column(Integer, default=0)


def spend(session: Session, key: str, window_start: datetime, window_end: datetime, limit: int, cost: int = 1) -> bool:
    """Take `cost` from the window's budget of `limit`; False (nothing taken) when it would overspend.

    The conditional UPDATE is the guard: two drainers racing for the last unit cannot both win.
    """
    insert_if_absent(
        session, RateLimitWindow, {"key": key, "window_start": window_start, "window_end": window_end, "used": 0}
    )
    result = session.execute(
        update(RateLimitWindow)
        .where(
            RateLimitWindow.key == key,
            RateLimitWindow.window_start == window_start,
            RateLimitWindow.used + cost <= limit,
        )
        .values(used=RateLimitWindow.used + cost)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def give_back(session: Session, key: str, window_start: datetime, cost: int = 1) -> bool:
    """Return `cost` to the window's budget (a message WeCom did not take); False when there was none to return."""
    result = session.execute(
        update(RateLimitWindow)
        .where(
            RateLimitWindow.key == key,
            RateLimitWindow.window_start == window_start,
            RateLimitWindow.used >= cost,
        )
        .values(used=RateLimitWindow.used - cost)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def prune(session: Session, before: datetime) -> int:
    """Delete windows that ended before `before`; return how many."""
    result = session.execute(
        delete(RateLimitWindow).where(RateLimitWindow.window_end < before).execution_options(synchronize_session=False)
    )
    return rowcount(result) or 0


def used(session: Session, key: str, window_start: datetime) -> int:
    """Return how much of the window's budget is spent (0 for a window nobody has spent from)."""

    value = session.scalars(
        select(RateLimitWindow.used).where(RateLimitWindow.key == key, RateLimitWindow.window_start == window_start)
    ).first()
    return int(value or 0)
