"""Business-day maths and ranking rules of the points economy, free of any database or web code."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

T = TypeVar("T")


def business_day(at: datetime, zone: ZoneInfo, reset_hour: int) -> date:
    """Return the local date of `at` shifted back by `reset_hour`, so a day starts at that local hour.

    Args:
        at: an aware instant (any zone).
        zone: the configured time zone.
        reset_hour: the local hour (0–23) at which a new business day begins.
    """
    if at.tzinfo is None:
        raise ValueError("business_day needs an aware datetime")
    return (at.astimezone(zone) - timedelta(hours=reset_hour)).date()


def day_start(day: date, zone: ZoneInfo, reset_hour: int) -> datetime:
    """Return the UTC instant business day `day` begins."""
    return datetime.combine(day, time(reset_hour), tzinfo=zone).astimezone(UTC)


def week_start(day: date) -> date:
    """Return the Monday of the business week holding `day`."""
    return day - timedelta(days=day.weekday())


def month_start(day: date) -> date:
    """Return the first business day of the month holding `day`."""
    return day.replace(day=1)


def streak_bonus(streak: int, bonuses: Mapping[int, int], *, repeat: bool) -> int:
    """Return the bonus for the `streak`-th day; with `repeat` the ladder restarts after its longest day."""
    if not bonuses or streak < 1:
        return 0
    if repeat:
        cycle = max(bonuses)
        streak = (streak - 1) % cycle + 1
    return bonuses.get(streak, 0)


def competition_ranks(rows: Sequence[tuple[T, int]]) -> list[tuple[int, T, int]]:
    """Rank rows already sorted by score descending: equal scores share a rank, the next skips (1, 1, 3)."""
    ranked: list[tuple[int, T, int]] = []
    for position, (item, score) in enumerate(rows, start=1):
        rank = ranked[-1][0] if ranked and ranked[-1][2] == score else position
        ranked.append((rank, item, score))
    return ranked
