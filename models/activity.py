"""Member activity: hourly counters per chat and member, and the last time each member was active."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, Integer, String, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, UTCDateTime, core, one_of
from models.membership import Membership


class ActivityKind(StrEnum):
    MESSAGE = "message"
    CHECKIN = "checkin"
    ANSWER = "answer"
    SIGNUP = "signup"


KINDS = tuple(kind.value for kind in ActivityKind)
# 1:1 conversations have no chat id; a primary key cannot hold NULL, so they are stored under "".
DIRECT = ""


class ActivityHour(Base):
    """How many times a member did one kind of thing in one chat during one UTC hour.

    Hours rather than days: any local day (or week) in a whole-hour time zone is an exact range
    of UTC hours, so the counters need no time zone and a config change cannot split a day.
    """

    __tablename__ = "activity_hours"
    __table_args__ = (
        CheckConstraint(one_of("kind", ActivityKind), name="kind"),
        CheckConstraint("count > 0", name="count"),
    )

    chat_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True, index=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


def _count_statement(dialect: str) -> Any:
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(ActivityHour).on_conflict_do_update(
        index_elements=["chat_id", "user_id", "hour", "kind"], set_={"count": ActivityHour.count + 1}
    )


# Built once: every check-in, answer and chat message counts here.
_COUNT = {dialect: _count_statement(dialect) for dialect in ("postgresql", "sqlite")}


def _hour_of(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def record_activity(session: Session, *, chat_id: str | None, user_id: str, at: datetime, kind: str) -> None:
    """Count one action of `user_id` in `chat_id` (None: a 1:1 conversation) and mark them active at `at`."""
    if kind not in KINDS:
        raise ValueError(f"unknown activity kind {kind!r} (one of {', '.join(KINDS)})")
    if at.tzinfo is None:
        raise ValueError("record_activity needs an aware datetime")
    values = {"chat_id": chat_id or DIRECT, "user_id": user_id, "hour": _hour_of(at), "kind": kind, "count": 1}
    # One atomic upsert: concurrent events of the same member in the same hour never lose a count.
    core(session).execute(_COUNT[session.get_bind().dialect.name], values)
    if chat_id:
        mark_active(session, chat_id=chat_id, user_id=user_id, at=at)


def mark_active(session: Session, *, chat_id: str, user_id: str, at: datetime) -> bool:
    """Move the member's last activity in `chat_id` to `at`, never backwards (late deliveries are older).

    Returns whether it moved: the caller decides what coming back means (reactivation counts it).
    """
    moved = core(session).execute(_MARK_ACTIVE, {"b_chat": chat_id, "b_user": user_id, "b_at": at})
    return bool(moved.rowcount == 1)


# Built once: every message heard in a group moves its sender's last activity.
_MARK_ACTIVE = (
    update(Membership)
    .where(
        Membership.chat_id == bindparam("b_chat"),
        Membership.user_id == bindparam("b_user"),
        (Membership.last_active_at.is_(None)) | (Membership.last_active_at < bindparam("b_at")),
    )
    .values(last_active_at=bindparam("b_at"))
)


def mark_active_in(session: Session, *, chat_ids: list[str], user_id: str, at: datetime) -> list[str]:
    """Move the member's last activity to `at` in each of `chat_ids` they are in (one statement, never backwards).

    Returns the chats where it moved.
    """
    if not chat_ids:
        return []
    moved = session.scalars(
        update(Membership)
        .where(
            Membership.user_id == user_id,
            Membership.chat_id.in_(chat_ids),
            Membership.left_at.is_(None),
            (Membership.last_active_at.is_(None)) | (Membership.last_active_at < at),
        )
        .values(last_active_at=at)
        .returning(Membership.chat_id)
        .execution_options(synchronize_session=False)
    ).all()
    return list(moved)


def activity_counts(
    session: Session,
    *,
    chat_id: str | None,
    since: datetime,
    until: datetime,
    limit: int,
    exclude: Iterable[str] = (),
) -> list[tuple[str, int]]:
    """Return (user_id, actions) in [since, until), most active first, in `chat_id` or (None) everywhere.

    The counters are hourly, so `since` and `until` are taken to the hour they fall in; `exclude`
    leaves people (staff) off the board.
    """
    total = func.sum(ActivityHour.count).label("total")
    query = select(ActivityHour.user_id, total).where(ActivityHour.hour >= _hour_of(since), ActivityHour.hour < until)
    if chat_id is not None:
        query = query.where(ActivityHour.chat_id == chat_id)
    left_out = sorted(set(exclude))
    if left_out:
        query = query.where(ActivityHour.user_id.not_in(left_out))
    query = query.group_by(ActivityHour.user_id).order_by(total.desc(), ActivityHour.user_id).limit(limit)
    return [(user, int(count)) for user, count in session.execute(query)]
