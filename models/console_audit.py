"""What people did in the admin console (重试, 截团 …): who, when, on what; shown on its 概览 page."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, UTCDateTime


class ConsoleAction(Base):
    __tablename__ = "console_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(200))
    # What came of it, in the words the page showed the person (e.g. the bot's answer to 截团).
    result: Mapped[str | None] = mapped_column(Text)


def record(session: Session, *, actor: str, action: str, target: str, at: datetime, result: str | None) -> None:
    """Add one line to the audit trail, in the transaction of the action itself when there is one."""
    session.add(ConsoleAction(actor=actor, action=action, target=target[:200], at=at, result=result))
    session.flush()


def recent(session: Session, limit: int = 20) -> list[ConsoleAction]:
    """Return the newest audit lines first."""
    return list(session.scalars(select(ConsoleAction).order_by(ConsoleAction.id.desc()).limit(limit)))
