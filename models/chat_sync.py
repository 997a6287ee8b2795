"""When each customer group was last changed and last read back from WeCom (groupchat/get), and retries."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import CheckConstraint, Integer, String, Text, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, UTCDateTime, insert_if_absent, rowcount
from models.processed_event import ProcessedEvent

# The callback that says a customer group changed; it carries no names, so a sync reads them back.
CHANGE_EVENT = "change_external_chat"


class ChatSync(Base):
    """One customer group's sync state: it needs a sync while changed_at is later than synced_at."""

    __tablename__ = "chat_syncs"
    __table_args__ = (CheckConstraint("attempts >= 0", name="attempts"),)

    chat_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Not before this time: a lease while one process syncs, or the backoff after a failure.
    next_try_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


def _ensure(session: Session, chat_id: str) -> None:
    insert_if_absent(session, ChatSync, {"chat_id": chat_id, "attempts": 0})


def note_changes(session: Session, *, since: datetime) -> int:
    """Mark every chat with a change_external_chat event received since `since` as changed; return how many.

    The events themselves are the record (processed_events), so the callback path writes nothing
    extra; re-reading an overlapping range is harmless, changed_at only moves forward.
    """
    rows = session.execute(
        select(ProcessedEvent.chat_id, func.max(ProcessedEvent.received_at))
        .where(
            ProcessedEvent.kind == CHANGE_EVENT,
            ProcessedEvent.source == "app",
            ProcessedEvent.chat_id.is_not(None),
            ProcessedEvent.received_at >= since,
        )
        .group_by(ProcessedEvent.chat_id)
    ).all()
    for chat_id, at in rows:
        _ensure(session, cast(str, chat_id))  # the query keeps only rows whose chat_id is not NULL
        session.execute(
            update(ChatSync)
            .where(ChatSync.chat_id == chat_id, (ChatSync.changed_at.is_(None)) | (ChatSync.changed_at < at))
            .values(changed_at=at)
            .execution_options(synchronize_session=False)
        )
    return len(rows)


def due_chats(session: Session, *, now: datetime, limit: int) -> list[str]:
    """Return up to `limit` chats changed since their last sync and not waiting out a lease or backoff."""
    return list(
        session.scalars(
            select(ChatSync.chat_id)
            .where(
                ChatSync.changed_at.is_not(None),
                (ChatSync.synced_at.is_(None)) | (ChatSync.changed_at > ChatSync.synced_at),
                (ChatSync.next_try_at.is_(None)) | (ChatSync.next_try_at <= now),
            )
            .order_by(ChatSync.changed_at, ChatSync.chat_id)
            .limit(limit)
        )
    )


def claim(session: Session, chat_id: str, *, now: datetime, until: datetime) -> bool:
    """Take the chat for one sync until `until`; False when another process holds it or it waits a backoff."""
    _ensure(session, chat_id)
    taken = session.execute(
        update(ChatSync)
        .where(ChatSync.chat_id == chat_id, (ChatSync.next_try_at.is_(None)) | (ChatSync.next_try_at <= now))
        .values(next_try_at=until)
        .execution_options(synchronize_session=False)
    )
    return rowcount(taken) == 1


def record_synced(session: Session, chat_id: str, *, started: datetime, error: str | None = None) -> None:
    """Record a sync read at `started` (changes after it need another); `error` notes a chat WeCom does not know."""
    _ensure(session, chat_id)
    session.execute(
        update(ChatSync)
        .where(ChatSync.chat_id == chat_id)
        .values(next_try_at=None, attempts=0, last_error=error)
        .execution_options(synchronize_session=False)
    )
    # synced_at never moves backwards (a slow sync finishing after a newer one).
    session.execute(
        update(ChatSync)
        .where(ChatSync.chat_id == chat_id, (ChatSync.synced_at.is_(None)) | (ChatSync.synced_at < started))
        .values(synced_at=started)
        .execution_options(synchronize_session=False)
    )


def record_failure(session: Session, chat_id: str, *, error: str, retry_at: datetime) -> int:
    """Count a failed sync and wait until `retry_at` before the next try; return the attempts so far."""
    _ensure(session, chat_id)
    session.execute(
        update(ChatSync)
        .where(ChatSync.chat_id == chat_id)
        .values(attempts=ChatSync.attempts + 1, last_error=error[:2000], next_try_at=retry_at)
        .execution_options(synchronize_session=False)
    )
    return int(session.scalar(select(ChatSync.attempts).where(ChatSync.chat_id == chat_id)) or 0)


def sync_state(session: Session, chat_id: str) -> ChatSync | None:
    """Return the chat's sync state, if it has one."""
    return session.get(ChatSync, chat_id)
