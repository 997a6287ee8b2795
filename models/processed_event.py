"""Callbacks already handled: the de-duplication key WeCom retries are checked against."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, bindparam, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, UTCDateTime, core, insert_if_absent


class ProcessedEvent(Base):
    __tablename__ = "processed_events"

    dedup_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(32))
    chat_id: Mapped[str | None] = mapped_column(String(128))
    user_id: Mapped[str | None] = mapped_column(String(128))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    # The passive answer, kept so a retried aibot callback gets the same reply instead of nothing.
    reply_text: Mapped[str | None] = mapped_column(Text)


def claim_event(
    session: Session,
    *,
    dedup_key: str,
    source: str,
    kind: str,
    chat_id: str | None,
    user_id: str | None,
    received_at: datetime,
) -> bool:
    """Record the event as handled; return False when an earlier delivery already claimed it."""
    return insert_if_absent(
        session,
        ProcessedEvent,
        {
            "dedup_key": dedup_key,
            "source": source,
            "kind": kind,
            "chat_id": chat_id,
            "user_id": user_id,
            "received_at": received_at,
        },
    )


_STORE_REPLY = (
    update(ProcessedEvent)
    .where(ProcessedEvent.dedup_key == bindparam("key"))
    .values(reply_text=bindparam("reply_text"))
)


def store_reply(session: Session, dedup_key: str, reply_text: str | None) -> None:
    """Remember the passive answer given to this event (one UPDATE, no read first)."""
    core(session).execute(_STORE_REPLY, {"key": dedup_key, "reply_text": reply_text})


def stored_reply(session: Session, dedup_key: str) -> str | None:
    """Return the passive answer given the first time this event was handled."""
    return session.scalar(select(ProcessedEvent.reply_text).where(ProcessedEvent.dedup_key == dedup_key))
