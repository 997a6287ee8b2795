"""Customer-group tasks (add_msg_template): WeCom's msgid, kept until the guide has sent it or it expired.

One task may carry several customer groups of the same guide (its `chat_id_list`): each carried group is a
`CustomerTaskChat` row naming the outbox row it delivers, so each group's row shares the task's fate per group.
A carried row's `outbox_id` is unique while the task may still deliver it: that is what stops two drainers from
putting the same row into two tasks; it is cleared (kept as `row_id` for history) once the group's part is over.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Index, Integer, String, delete, select, text, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, UTCDateTime, insert_if_absent, one_of, rowcount


class TaskStatus(StrEnum):
    WAITING = "waiting"
    SENT = "sent"
    EXPIRED = "expired"


TASK_STATUSES = tuple(status.value for status in TaskStatus)


class CustomerTask(Base):
    __tablename__ = "customer_tasks"
    __table_args__ = (
        CheckConstraint(one_of("status", TaskStatus), name="status"),
        Index("ix_customer_tasks_poll", "status", "next_poll_at"),
    )

    msgid: Mapped[str] = mapped_column(String(128), primary_key=True)
    outbox_id: Mapped[int | None] = mapped_column(Integer)
    chat_id: Mapped[str] = mapped_column(String(128))
    sender: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="waiting")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    next_poll_at: Mapped[datetime] = mapped_column(UTCDateTime())
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # WeCom allows three remind_groupmsg_send calls per task within 24 hours.
    reminders: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    next_remind_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When cancel_groupmsg_send took the task out of the guide's 群发助手 (an expired task must be).
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ChatStatus(StrEnum):
    RESERVED = "reserved"  # being put into a task that WeCom has not created yet
    WAITING = "waiting"
    SENT = "sent"
    EXPIRED = "expired"  # not delivered: unconfirmed and cancelled, or WeCom reported it undeliverable


class CustomerTaskChat(Base):
    __tablename__ = "customer_task_chats"
    __table_args__ = (
        CheckConstraint(one_of("status", ChatStatus), name="status"),
        Index("ix_customer_task_chats_msgid", "msgid"),
        Index("ix_customer_task_chats_batch", "batch"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch: Mapped[str] = mapped_column(String(32))
    msgid: Mapped[str | None] = mapped_column(String(128))
    chat_id: Mapped[str] = mapped_column(String(128))
    # Unique while the task may still deliver the row; NULL once its part is over (row_id keeps the history).
    outbox_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    row_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="reserved")
    reserved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


def reserve(session: Session, *, batch: str, chat_id: str, outbox_id: int, now: datetime) -> bool:
    """Reserve outbox row `outbox_id` for the task being built as `batch`; False when another task carries it."""
    values = {"batch": batch, "chat_id": chat_id, "outbox_id": outbox_id, "row_id": outbox_id}
    return insert_if_absent(session, CustomerTaskChat, {**values, "status": "reserved", "reserved_at": now})


def drop_reservation(session: Session, batch: str) -> None:
    """Forget a batch WeCom did not turn into a task: its rows are free for the next try."""
    session.execute(delete(CustomerTaskChat).where(CustomerTaskChat.batch == batch, CustomerTaskChat.msgid.is_(None)))


def carrier(session: Session, outbox_id: int) -> CustomerTaskChat | None:
    """Return the task chat that carries outbox row `outbox_id` now (reserved, waiting or sent), if any."""
    return session.scalars(
        select(CustomerTaskChat)
        .where(CustomerTaskChat.outbox_id == outbox_id)
        .execution_options(populate_existing=True)
    ).first()


def chats_of(session: Session, msgid: str) -> list[CustomerTaskChat]:
    """Return the groups a task carries, in the order they were put in."""
    return list(
        session.scalars(
            select(CustomerTaskChat)
            .where(CustomerTaskChat.msgid == msgid)
            .order_by(CustomerTaskChat.id)
            .execution_options(populate_existing=True)
        )
    )


def settle_chat(session: Session, chat_row_id: int, status: str, now: datetime) -> bool:
    """Record one carried group's outcome; a group that will not get the message frees its outbox row."""
    values: dict[str, object] = {"status": status, "settled_at": now}
    if status == ChatStatus.EXPIRED:
        values["outbox_id"] = None
    result = session.execute(
        update(CustomerTaskChat)
        .where(CustomerTaskChat.id == chat_row_id, CustomerTaskChat.status == "waiting")
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def record_task(
    session: Session,
    *,
    msgid: str,
    outbox_id: int | None,
    chat_id: str,
    sender: str,
    now: datetime,
    expires_at: datetime,
    next_poll_at: datetime,
    batch: str | None = None,
    next_remind_at: datetime | None = None,
) -> CustomerTask:
    """Keep the msgid WeCom returned for a task the guide still has to confirm, with the groups it carries.

    With `batch` the groups reserved under it become the task's; without, the task carries `chat_id` alone.
    """
    if batch is not None:
        session.execute(
            update(CustomerTaskChat)
            .where(CustomerTaskChat.batch == batch, CustomerTaskChat.msgid.is_(None))
            .values(msgid=msgid, status="waiting")
            .execution_options(synchronize_session=False)
        )
    else:
        session.add(
            CustomerTaskChat(
                batch=msgid[:32], msgid=msgid, chat_id=chat_id, outbox_id=outbox_id, row_id=outbox_id, status="waiting"
            )
        )
    task = CustomerTask(
        msgid=msgid,
        outbox_id=outbox_id,
        chat_id=chat_id,
        sender=sender,
        status="waiting",
        created_at=now,
        expires_at=expires_at,
        next_poll_at=next_poll_at,
        reminders=0,
        next_remind_at=next_remind_at,
    )
    session.add(task)
    session.flush()
    return task


def due_for_poll(session: Session, now: datetime, limit: int = 100) -> list[CustomerTask]:
    """Return waiting tasks whose next poll is due, oldest first."""
    return list(
        session.scalars(
            select(CustomerTask)
            .where(CustomerTask.status == "waiting", CustomerTask.next_poll_at <= now)
            .order_by(CustomerTask.next_poll_at)
            .limit(limit)
        )
    )


def settle(session: Session, msgid: str, status: str, now: datetime) -> bool:
    """Mark a waiting task sent or expired; False when another poller settled it first."""
    result = session.execute(
        update(CustomerTask)
        .where(CustomerTask.msgid == msgid, CustomerTask.status == "waiting")
        .values(status=status, settled_at=now)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def poll_later(session: Session, msgid: str, when: datetime) -> None:
    """Look at a waiting task again at `when`."""
    session.execute(
        update(CustomerTask)
        .where(CustomerTask.msgid == msgid, CustomerTask.status == "waiting")
        .values(next_poll_at=when)
        .execution_options(synchronize_session=False)
    )


def tasks(session: Session, *, status: str | None = None) -> list[CustomerTask]:
    """Return tasks, oldest first, optionally of one status."""
    query = select(CustomerTask).order_by(CustomerTask.created_at)
    if status:
        query = query.where(CustomerTask.status == status)
    return list(session.scalars(query))


def reminded(session: Session, msgid: str, next_remind_at: datetime | None) -> None:
    """Count one reminder sent for a task and set when the next is due (None: no more)."""
    session.execute(
        update(CustomerTask)
        .where(CustomerTask.msgid == msgid)
        .values(reminders=CustomerTask.reminders + 1, next_remind_at=next_remind_at)
        .execution_options(synchronize_session=False)
    )


def mark_cancelled(session: Session, msgid: str, now: datetime) -> None:
    """Record that WeCom took the task out of the guide's 群发助手."""
    session.execute(
        update(CustomerTask)
        .where(CustomerTask.msgid == msgid, CustomerTask.cancelled_at.is_(None))
        .values(cancelled_at=now)
        .execution_options(synchronize_session=False)
    )
