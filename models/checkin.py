"""Daily check-ins: one row per member and business day, with the streak it continued."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import CheckConstraint, Date, Integer, String, bindparam, func, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column

from models.base import Base, UTCDateTime, core


class Checkin(Base):
    __tablename__ = "checkins"
    __table_args__ = (
        CheckConstraint("streak >= 1", name="streak_positive"),
        CheckConstraint("points >= 0", name="points_not_negative"),
    )

    # (member, business day) is the primary key: the database itself refuses a second check-in.
    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    chat_id: Mapped[str | None] = mapped_column(String(128))
    streak: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


@dataclass(frozen=True)
class CheckinResult:
    """A new check-in (`created`), or the one already made today."""

    created: bool
    streak: int
    points: int


def _check_in_statement(dialect: str) -> Any:
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    yesterday = aliased(Checkin)
    # The streak continues yesterday's check-in, else starts again at 1: read by the INSERT itself,
    # not by a SELECT first, so a check-in is one round trip.
    streak = (
        func.coalesce(
            select(yesterday.streak)
            .where(yesterday.user_id == bindparam("b_user"), yesterday.day == bindparam("b_yesterday"))
            .scalar_subquery(),
            0,
        )
        + 1
    )
    row = select(
        bindparam("b_user", type_=String),
        bindparam("b_day", type_=Date),
        bindparam("b_chat", type_=String),
        streak,
        bindparam("b_points", type_=Integer),
        bindparam("b_at", type_=UTCDateTime()),
    ).where(true())  # SQLite reads INSERT ... SELECT ... ON CONFLICT only with a WHERE in the SELECT
    columns = ["user_id", "day", "chat_id", "streak", "points", "created_at"]
    return insert(Checkin).from_select(columns, row).on_conflict_do_nothing().returning(Checkin.streak)


_CHECK_IN = {dialect: _check_in_statement(dialect) for dialect in ("postgresql", "sqlite")}
_SET_POINTS = (
    update(Checkin)
    .where(Checkin.user_id == bindparam("b_user"), Checkin.day == bindparam("b_day"))
    .values(points=bindparam("b_points"))
)


def check_in(
    session: Session, *, user_id: str, day: date, chat_id: str | None, at: datetime, points_for: Callable[[int], int]
) -> CheckinResult:
    """Record today's check-in unless one exists; the winner of concurrent attempts is the database's choice.

    `points_for(streak)` gives the points this streak earns; the row stores them so the reply and
    the ledger agree. A second call the same day returns the first check-in with `created` False.
    """
    # Written with a first day's points; a streak whose points differ (a bonus day) is corrected in
    # a second statement, so the usual check-in stays one.
    guess = points_for(1)
    params = {
        "b_user": user_id,
        "b_day": day,
        "b_yesterday": day - timedelta(days=1),
        "b_chat": chat_id,
        "b_points": guess,
    }
    written = core(session).execute(_CHECK_IN[session.get_bind().dialect.name], params | {"b_at": at}).first()
    if written is not None:
        streak = int(written.streak)
        points = points_for(streak)
        if points != guess:
            core(session).execute(_SET_POINTS, {"b_user": user_id, "b_day": day, "b_points": points})
        return CheckinResult(True, streak, points)
    existing = session.scalars(
        select(Checkin).where(Checkin.user_id == user_id, Checkin.day == day).execution_options(populate_existing=True)
    ).one()
    return CheckinResult(False, existing.streak, existing.points)


def set_points(session: Session, user_id: str, day: date, points: int) -> None:
    """Record the points a check-in really earned (after the daily cap): one UPDATE, no read first."""
    core(session).execute(_SET_POINTS, {"b_user": user_id, "b_day": day, "b_points": points})
