"""One-time login links for the web pages (`groupbot web login-link`): stored as digests, used once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, UTCDateTime


class WebLoginLink(Base):
    __tablename__ = "web_login_links"

    # A SHA-256 digest of the link's secret: a database dump does not hand out logins.
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


def add_link(session: Session, digest: str, user_id: str, now: datetime, expires_at: datetime) -> None:
    """Store a fresh link for `user_id`."""
    session.add(WebLoginLink(digest=digest, user_id=user_id, created_at=now, expires_at=expires_at))
    session.flush()


def use_link(session: Session, digest: str, now: datetime) -> str | None:
    """Spend the link: return its user once, None when it is unknown, used or expired."""
    result = session.execute(
        update(WebLoginLink)
        .where(WebLoginLink.digest == digest, WebLoginLink.used_at.is_(None), WebLoginLink.expires_at > now)
        .values(used_at=now)
        .returning(WebLoginLink.user_id)
        .execution_options(synchronize_session=False)
    )
    return result.scalar()
