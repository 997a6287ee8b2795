"""Open welcome batches: the delayed outbox row that joins within the window are added to, one per chat."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, UTCDateTime, insert_if_absent


class WelcomeBatch(Base):
    """The welcome being gathered for a chat: its outbox row, who it names so far, and when it goes out."""

    __tablename__ = "welcome_batches"

    chat_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    outbox_id: Mapped[int | None] = mapped_column(Integer)
    user_ids: Mapped[list[str]] = mapped_column(JSON)
    # The payload as queued, so a rewrite changes only the text and mentions and keeps the rest.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())

    def open_at(self, now: datetime) -> bool:
        """Tell whether joins at `now` may still be added to this batch."""
        return self.outbox_id is not None and now < self.due_at


def lock_batch(session: Session, chat_id: str, now: datetime) -> WelcomeBatch:
    """Return the chat's batch row, created empty if absent, locked so joins in one chat take turns.

    On PostgreSQL a second transaction waits at the FOR UPDATE until the first commits; SQLite
    runs write transactions one at a time (BEGIN IMMEDIATE), so the same code is safe there.
    """
    insert_if_absent(
        session, WelcomeBatch, {"chat_id": chat_id, "outbox_id": None, "user_ids": [], "payload": {}, "due_at": now}
    )
    batch = session.scalars(
        select(WelcomeBatch)
        .where(WelcomeBatch.chat_id == chat_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return batch


def restart(
    batch: WelcomeBatch, *, outbox_id: int, user_ids: list[str], payload: dict[str, Any], due_at: datetime
) -> None:
    """Point the batch at a new outbox row."""
    batch.outbox_id = outbox_id
    batch.payload = dict(payload)
    batch.user_ids = list(user_ids)
    batch.due_at = due_at


def extend(batch: WelcomeBatch, user_ids: list[str], payload: dict[str, Any]) -> None:
    """Record the members (and payload) the batch's row now carries."""
    batch.user_ids = list(user_ids)
    batch.payload = dict(payload)
