"""WeCom's 入群欢迎语 templates this service created, with the text each holds (to edit only on change)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, UTCDateTime


class WelcomeTemplate(Base):
    __tablename__ = "welcome_templates"

    # "default", or the chat id of a group with its own welcome text.
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    template_id: Mapped[str] = mapped_column(String(128))
    digest: Mapped[str] = mapped_column(String(64))
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime())


def find(session: Session, name: str) -> WelcomeTemplate | None:
    """Return the stored template `name`, or None before its first sync."""
    return session.get(WelcomeTemplate, name)


def store(session: Session, name: str, template_id: str, digest: str, now: datetime) -> None:
    """Record that template `name` is `template_id` holding the text with `digest`."""
    row = session.get(WelcomeTemplate, name)
    if row is None:
        session.add(WelcomeTemplate(name=name, template_id=template_id, digest=digest, synced_at=now))
    else:
        row.template_id, row.digest, row.synced_at = template_id, digest, now
    session.flush()


def all_templates(session: Session) -> list[WelcomeTemplate]:
    """Return every stored template by name."""
    return list(session.scalars(select(WelcomeTemplate).order_by(WelcomeTemplate.name)))
