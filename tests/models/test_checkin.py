"""Check-in rows as the database keeps them: one a day per member, the streak read from yesterday's row."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from models import checkin
from models.checkin import Checkin
from models.db import make_session_factory

DAY = date(2026, 11, 22)
AT = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
BONUS = {3: 5}


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


def points_for(streak: int) -> int:
    return 10 + BONUS.get(streak, 0)


def tap(factory: sessionmaker[Session], day: date, user: str = "zhangsan") -> checkin.CheckinResult:
    with factory.begin() as session:
        return checkin.check_in(session, user_id=user, day=day, chat_id="wrA", at=AT, points_for=points_for)


def stored(factory: sessionmaker[Session], user: str = "zhangsan") -> list[tuple[date, int, int]]:
    with factory() as session:
        rows = session.scalars(select(Checkin).where(Checkin.user_id == user).order_by(Checkin.day))
        return [(row.day, row.streak, row.points) for row in rows]


def test_streak_continues_only_from_yesterday(factory: sessionmaker[Session]) -> None:
    """Yesterday's streak grows by one; a missed day, or no earlier check-in, starts again at 1."""
    results = [tap(factory, DAY + timedelta(days=offset)) for offset in (0, 1, 2, 4)]
    assert [(r.created, r.streak, r.points) for r in results] == [
        (True, 1, 10),
        (True, 2, 10),
        (True, 3, 15),
        (True, 1, 10),
    ]
    # The bonus day's row holds what the reply and the ledger say, not the first day's points it was written with.
    assert [streak for _, streak, _ in stored(factory)] == [1, 2, 3, 1]
    assert [points for _, _, points in stored(factory)] == [10, 10, 15, 10]
    # Another member's check-in yesterday continues nobody else's streak.
    assert tap(factory, DAY + timedelta(days=5), user="lisi").streak == 1


def test_a_second_tap_the_same_day_returns_the_first(factory: sessionmaker[Session]) -> None:
    first, second = tap(factory, DAY), tap(factory, DAY)
    assert (first.created, second.created) == (True, False)
    assert (second.streak, second.points) == (1, 10)
    assert len(stored(factory)) == 1


def test_a_check_in_off_a_bonus_day_is_one_statement(factory: sessionmaker[Session]) -> None:
    """The streak is read by the INSERT itself: no SELECT goes first."""
    tap(factory, DAY - timedelta(days=1))
    statements: list[str] = []
    with factory.begin() as session:
        event.listen(session.connection(), "before_cursor_execute", lambda _c, _cur, sql, *_: statements.append(sql))
        result = checkin.check_in(session, user_id="zhangsan", day=DAY, chat_id="wrA", at=AT, points_for=points_for)
    assert (result.streak, result.points) == (2, 10)
    assert len(statements) == 1 and statements[0].lstrip().upper().startswith("INSERT")


def test_set_points_records_a_capped_check_in(factory: sessionmaker[Session]) -> None:
    tap(factory, DAY)
    with factory.begin() as session:
        checkin.set_points(session, "zhangsan", DAY, 4)
    assert stored(factory) == [(DAY, 1, 4)]
