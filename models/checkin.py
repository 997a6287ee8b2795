"""Daily check-ins: one row per member and business day, with the streak it continued."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, Integer, String, bindparam, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, UTCDateTime, core, insert_if_absent
from models.business_day import next_streak


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


@dataclass(frozen=True)
class PreviousCheckin:
    day: date
    streak: int


# Built once: every 签到 runs it, and an ORM select rebuilt per call cost more than the query itself.
_LAST_CHECKIN = (
    select(Checkin.day, Checkin.streak)
    .where(Checkin.user_id == bindparam("user"), Checkin.day < bindparam("before"))
    .order_by(Checkin.day.desc())
    .limit(1)
)


def last_checkin(session: Session, user_id: str, before: date) -> PreviousCheckin | None:
    """Return the day and streak of the member's latest check-in before business day `before`."""
    row = core(session).execute(_LAST_CHECKIN, {"user": user_id, "before": before}).first()
    return None if row is None else PreviousCheckin(row.day, row.streak)


def check_in(
    session: Session, *, user_id: str, day: date, chat_id: str | None, at: datetime, points_for: Callable[[int], int]
) -> CheckinResult:
    """Record today's check-in unless one exists; the winner of concurrent attempts is the database's choice.

    `points_for(streak)` gives the points this streak earns; the row stores them so the reply and
    the ledger agree. A second call the same day returns the first check-in with `created` False.
    """
    previous = last_checkin(session, user_id, day)
    streak = next_streak(previous.day if previous else None, previous.streak if previous else 0, day)
    points = points_for(streak)
    created = insert_if_absent(
        session,
        Checkin,
        {"user_id": user_id, "day": day, "chat_id": chat_id, "streak": streak, "points": points, "created_at": at},
    )
    if created:
        return CheckinResult(True, streak, points)
    existing = session.scalars(
        select(Checkin).where(Checkin.user_id == user_id, Checkin.day == day).execution_options(populate_existing=True)
    ).one()
    return CheckinResult(False, existing.streak, existing.points)


def set_points(session: Session, user_id: str, day: date, points: int) -> None:
    """Record the points a check-in really earned (after the daily cap)."""
    row = session.get(Checkin, (user_id, day))
    if row is not None:
        row.points = points
