"""Finished aibot stream answers by stream id: WeCom polls a stream with refresh callbacks until it is finished."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, UTCDateTime, insert_if_absent


class AibotStream(Base):
    __tablename__ = "aibot_streams"

    stream_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


def remember(session: Session, stream_id: str, content: str, now: datetime) -> None:
    """Keep the finished content of stream `stream_id` (the first answer wins; a retry answers the same)."""
    insert_if_absent(session, AibotStream, {"stream_id": stream_id, "content": content, "created_at": now})


def content_of(session: Session, stream_id: str) -> str | None:
    """Return the finished content of stream `stream_id`, or None for a stream this service never started."""
    return session.scalar(select(AibotStream.content).where(AibotStream.stream_id == stream_id))


def prune(session: Session, before: datetime) -> int:
    """Forget streams started before `before` (WeCom stops refreshing a stream long before)."""
    result = session.execute(delete(AibotStream).where(AibotStream.created_at < before))
    return int(getattr(result, "rowcount", 0) or 0)
