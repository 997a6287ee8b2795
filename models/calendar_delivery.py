"""Content-calendar deliveries: one row per (entry, local date, chat), claimed with the outbox row it queues."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, Date, Integer, String, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, UTCDateTime, core, insert_if_absent, one_of


class DeliveryStatus(StrEnum):
    QUEUED = "queued"
    SKIPPED = "skipped"
    OVER_CAP = "over_cap"


STATUSES = tuple(status.value for status in DeliveryStatus)


class CalendarDelivery(Base):
    __tablename__ = "calendar_deliveries"
    __table_args__ = (CheckConstraint(one_of("status", DeliveryStatus), name="status"),)

    # The primary key is the promise: a slot reaches a group at most once, whoever claims it.
    entry_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    local_date: Mapped[date] = mapped_column(Date, primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    slot_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))
    outbox_id: Mapped[int | None] = mapped_column(Integer)
    claimed_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CalendarCursor(Base):
    """How far the calendar has been looked at, so slots missed during downtime are found (and sent or skipped)."""

    __tablename__ = "calendar_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    checked_until: Mapped[datetime] = mapped_column(UTCDateTime())


def claim(
    session: Session,
    *,
    entry_id: str,
    local_date: date,
    chat_id: str,
    slot_at: datetime,
    status: str,
    worker: str,
    now: datetime,
) -> bool:
    """Record the slot for the chat; False when any scheduler (or an earlier run) already did."""
    return insert_if_absent(
        session,
        CalendarDelivery,
        {
            "entry_id": entry_id,
            "local_date": local_date,
            "chat_id": chat_id,
            "slot_at": slot_at,
            "status": status,
            "outbox_id": None,
            "claimed_by": worker,
            "created_at": now,
        },
    )


def attach_outbox(session: Session, entry_id: str, local_date: date, chat_id: str, outbox_id: int) -> None:
    """Note which outbox row carries the claimed delivery."""
    session.execute(
        update(CalendarDelivery)
        .where(
            CalendarDelivery.entry_id == entry_id,
            CalendarDelivery.local_date == local_date,
            CalendarDelivery.chat_id == chat_id,
        )
        .values(outbox_id=outbox_id)
        .execution_options(synchronize_session=False)
    )


def recorded(session: Session, entry_ids: Iterable[str], dates: Iterable[date]) -> set[tuple[str, date, str]]:
    """Return the (entry, local date, chat) keys already claimed among these entries and dates."""
    entries, days = list(entry_ids), list(dates)
    if not entries or not days:
        return set()
    rows = session.execute(
        select(CalendarDelivery.entry_id, CalendarDelivery.local_date, CalendarDelivery.chat_id).where(
            CalendarDelivery.entry_id.in_(entries), CalendarDelivery.local_date.in_(days)
        )
    )
    return {(row[0], row[1], row[2]) for row in rows}


def checked_until(session: Session, name: str) -> datetime | None:
    """Return how far the calendar `name` was processed, or None before the first run."""
    return session.scalars(
        select(CalendarCursor.checked_until)
        .where(CalendarCursor.name == name)
        .execution_options(populate_existing=True)
    ).first()


def advance(session: Session, name: str, until: datetime) -> None:
    """Move the cursor forward to `until` (never back)."""
    if insert_if_absent(session, CalendarCursor, {"name": name, "checked_until": until}):
        return
    session.execute(
        update(CalendarCursor)
        .where(CalendarCursor.name == name, CalendarCursor.checked_until < until)
        .values(checked_until=until)
        .execution_options(synchronize_session=False)
    )


def claim_many(
    session: Session,
    *,
    entry_id: str,
    local_date: date,
    statuses: dict[str, str],
    slot_at: datetime,
    worker: str,
    now: datetime,
) -> set[str]:
    """Record the slot for each chat of `statuses` (chat -> status) in one INSERT; return the chats it claimed."""
    if not statuses:
        return set()
    dml: Any = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    # Sorted so two schedulers claiming the same chats take their index locks in one order (no deadlock).
    rows = [
        {
            "entry_id": entry_id,
            "local_date": local_date,
            "chat_id": chat_id,
            "slot_at": slot_at,
            "status": statuses[chat_id],
            "outbox_id": None,
            "claimed_by": worker,
            "created_at": now,
        }
        for chat_id in sorted(statuses)
    ]
    # A list of parameters, not a VALUES clause built per call: SQLAlchemy compiles the statement once
    # and sends the rows in multi-row batches ("insertmanyvalues").
    stmt = dml(CalendarDelivery).on_conflict_do_nothing().returning(CalendarDelivery.chat_id)
    return set(core(session).execute(stmt, rows).scalars())


_ATTACH = (
    update(CalendarDelivery)
    .where(
        CalendarDelivery.entry_id == bindparam("b_entry"),
        CalendarDelivery.local_date == bindparam("b_date"),
        CalendarDelivery.chat_id == bindparam("b_chat"),
    )
    .values(outbox_id=bindparam("b_outbox"))
)


def attach_outboxes(session: Session, entry_id: str, local_date: date, outbox_ids: dict[str, int]) -> None:
    """Note which outbox row carries each claimed delivery (chat -> outbox id), in one batch."""
    if outbox_ids:
        params = [
            {"b_entry": entry_id, "b_date": local_date, "b_chat": chat, "b_outbox": row}
            for chat, row in outbox_ids.items()
        ]
        core(session).execute(_ATTACH, params)
