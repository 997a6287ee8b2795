"""Business days, streaks and ranks: the rules that decide when a check-in counts and who is first."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from handlers.points.config import PointsConfig
from models.business_day import (
    business_day,
    competition_ranks,
    day_start,
    month_start,
    streak_bonus,
    week_start,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
CST = timezone(timedelta(hours=8))


@pytest.mark.parametrize(
    ("local", "reset_hour", "expected"),
    [
        # Midnight reset: the local date, not the UTC date (UTC is still on the 21st until 08:00 local).
        (datetime(2026, 11, 22, 0, 0, 0, tzinfo=CST), 0, date(2026, 11, 22)),
        (datetime(2026, 11, 21, 23, 59, 59, tzinfo=CST), 0, date(2026, 11, 21)),
        (datetime(2026, 11, 22, 7, 59, tzinfo=CST), 0, date(2026, 11, 22)),
        # Reset at 04:00: the small hours still belong to the day before.
        (datetime(2026, 11, 22, 3, 59, 59, tzinfo=CST), 4, date(2026, 11, 21)),
        (datetime(2026, 11, 22, 4, 0, 0, tzinfo=CST), 4, date(2026, 11, 22)),
        (datetime(2026, 11, 22, 0, 30, tzinfo=CST), 4, date(2026, 11, 21)),
        # Month and year boundaries move with the reset hour too.
        (datetime(2027, 1, 1, 3, 0, tzinfo=CST), 4, date(2026, 12, 31)),
    ],
)
def test_business_day_around_reset_hour_and_midnight(local: datetime, reset_hour: int, expected: date) -> None:
    """The day a moment belongs to is the local date after stepping back `reset_hour` hours."""
    assert business_day(local, SHANGHAI, reset_hour) == expected
    # The same instant given in UTC lands on the same business day: storage zone never matters.
    assert business_day(local.astimezone(UTC), SHANGHAI, reset_hour) == expected


def test_business_day_refuses_naive_time() -> None:
    """A naive time is of unknown zone; guessing is how other bots double-credited."""
    with pytest.raises(ValueError, match="aware"):
        business_day(datetime(2026, 11, 22, 10, 0), SHANGHAI, 0)


def test_day_start_is_the_reset_instant_in_utc() -> None:
    """Business day 22 Nov with a 04:00 reset starts at 04:00 Shanghai, i.e. 20:00 UTC the day before."""
    assert day_start(date(2026, 11, 22), SHANGHAI, 4) == datetime(2026, 11, 21, 20, 0, tzinfo=UTC)


def test_week_and_month_start() -> None:
    """Weeks start on Monday, months on the 1st, counted in business days."""
    assert week_start(date(2026, 11, 22)) == date(2026, 11, 16)  # a Sunday
    assert week_start(date(2026, 11, 23)) == date(2026, 11, 23)  # a Monday
    assert month_start(date(2026, 11, 22)) == date(2026, 11, 1)


def test_streak_bonus_once_or_repeating() -> None:
    """Bonuses land on their day; repeating restarts the ladder after its longest day."""
    bonuses = {3: 5, 7: 20}
    assert [streak_bonus(n, bonuses, repeat=False) for n in range(1, 11)] == [0, 0, 5, 0, 0, 0, 20, 0, 0, 0]
    assert [streak_bonus(n, bonuses, repeat=True) for n in range(1, 15)] == [
        0, 0, 5, 0, 0, 0, 20, 0, 0, 5, 0, 0, 0, 20
    ]  # fmt: skip
    assert streak_bonus(3, {}, repeat=True) == 0


def test_ties_share_a_rank_and_the_next_is_skipped() -> None:
    """Equal scores share a rank (1, 1, 3) and keep the given order."""
    rows = [("a", 50), ("b", 50), ("c", 30), ("d", 30), ("e", 10)]
    assert competition_ranks(rows) == [(1, "a", 50), (1, "b", 50), (3, "c", 30), (3, "d", 30), (5, "e", 10)]
    assert competition_ranks([]) == []


def test_config_tiers_must_rise_and_pick_the_highest_reached() -> None:
    """Tiers by total earned: below the first there is none; each threshold is inclusive."""
    points = PointsConfig(tiers=[{"name": "银卡", "min_earned": 500}, {"name": "金卡", "min_earned": 2000}])
    assert points.tier_of(499) is None
    assert points.tier_of(500).name == "银卡"  # type: ignore[union-attr]
    assert points.tier_of(2000).name == "金卡"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="lowest to highest"):
        PointsConfig(tiers=[{"name": "金卡", "min_earned": 2000}, {"name": "银卡", "min_earned": 500}])
