"""Budgets per key and window, kept in the database so they hold across drainers and restarts."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from models import rate_limit

Period = Literal["minute", "hour", "day", "week", "month"]
# How long a process trusts its memory that a window is spent before asking the database again.
SPENT_RECHECK = timedelta(minutes=1)


@dataclass(frozen=True)
class Budget:
    key: str
    limit: int
    period: Period
    cost: int = 1


def window(period: Period, now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Return the fixed window holding `now`: UTC minutes and hours; days, weeks (from Monday) and months in `zone`."""
    now = now.astimezone(UTC)
    if period == "minute":
        start = now.replace(second=0, microsecond=0)
        return start, start + timedelta(minutes=1)
    if period == "hour":
        start = now.replace(minute=0, second=0, microsecond=0)
        return start, start + timedelta(hours=1)
    local = now.astimezone(zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return _span(midnight, 1, zone)
    if period == "week":
        return _span(midnight - timedelta(days=local.weekday()), 7, zone)
    first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (first + timedelta(days=32)).replace(day=1)
    return first.astimezone(UTC), following.astimezone(UTC)


def _span(start: datetime, days: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    # Local calendar days: add days to the wall-clock date, then resolve the zone (DST-safe).
    end = (start.replace(tzinfo=None) + timedelta(days=days)).replace(tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def days_in_month(now: datetime, zone: ZoneInfo) -> int:
    """Return how many days the month of `now` (in `zone`) has."""
    local = now.astimezone(zone)
    return calendar.monthrange(local.year, local.month)[1]


class _Spent(Exception):  # control flow: leaving the transaction rolls back the budgets taken so far
    def __init__(self, budget: Budget, until: datetime):
        self.budget = budget
        self.until = until


class Limiter:
    """Spend from several budgets at once, or from none of them."""

    def __init__(self, session_factory: sessionmaker[Session]):
        self._session_factory = session_factory
        # Windows this process saw spent, and until when to believe it without asking the database again:
        # a unit given back (give_back, maybe by another process) can reopen a window before it ends.
        self._spent: dict[tuple[str, datetime], tuple[Budget, datetime, datetime]] = {}

    def acquire(self, budgets: list[Budget], now: datetime, zone: ZoneInfo) -> tuple[Budget, datetime] | None:
        """Take one unit from every budget; when one is spent take nothing and return it with its window's end."""
        if not budgets:
            return None
        for budget in budgets:
            cache_key = (f"{budget.key}/{budget.period}", window(budget.period, now, zone)[0])
            known = self._spent.get(cache_key)
            if known is not None:
                if now < known[2]:
                    return known[0], known[1]
                del self._spent[cache_key]
        try:
            with self._session_factory.begin() as session:
                for budget in budgets:
                    start, end = window(budget.period, now, zone)
                    # The period is part of the stored key: a minute and an hour can start at the same instant.
                    key = f"{budget.key}/{budget.period}"
                    if not rate_limit.spend(session, key, start, end, budget.limit, budget.cost):
                        raise _Spent(budget, end)
        except _Spent as spent:
            start = window(spent.budget.period, now, zone)[0]
            if len(self._spent) > 10_000:
                self._spent.clear()
            recheck = min(spent.until, now + SPENT_RECHECK)
            self._spent[(f"{spent.budget.key}/{spent.budget.period}", start)] = (spent.budget, spent.until, recheck)
            return spent.budget, spent.until
        return None

    def give_back(self, budgets: list[Budget], now: datetime, zone: ZoneInfo) -> None:
        """Return the units `acquire` took at `now` for a message WeCom did not take."""
        with self._session_factory.begin() as session:
            for budget in budgets:
                start = window(budget.period, now, zone)[0]
                key = f"{budget.key}/{budget.period}"
                rate_limit.give_back(session, key, start, budget.cost)
                self._spent.pop((key, start), None)

    def prune(self, now: datetime) -> int:
        """Forget windows that ended more than a day ago."""
        with self._session_factory.begin() as session:
            return rate_limit.prune(session, now - timedelta(days=1))
