"""Customer-group tasks (add_msg_template): WeCom's msgid, kept until the guide has sent it or it expired."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Index, Integer, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, UTCDateTime, one_of, rowcount


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
) -> CustomerTask:
    """Keep the msgid WeCom returned for a task the guide still has to confirm."""
    task = CustomerTask(
        msgid=msgid,
        outbox_id=outbox_id,
        chat_id=chat_id,
        sender=sender,
        status="waiting",
        created_at=now,
        expires_at=expires_at,
        next_poll_at=next_poll_at,
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
