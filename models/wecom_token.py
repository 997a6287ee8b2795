"""The WeCom access token, cached in the database so every process shares one and refreshes it once."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import String, Text, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, UTCDateTime, insert_if_absent, rowcount


class WecomToken(Base):
    __tablename__ = "wecom_tokens"

    # One row per (corp, app secret): a hash, so the secret itself never lands in the database.
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    access_token: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A lease: while it runs, one process is calling gettoken and the others wait for its result.
    refreshing_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


def valid_token(session: Session, key: str, now: datetime) -> tuple[str, datetime] | None:
    """Return the cached token and its expiry if it is still good at `now`."""
    row = session.scalars(
        select(WecomToken).where(WecomToken.key == key).execution_options(populate_existing=True)
    ).first()
    if row is None or row.access_token is None or row.expires_at is None or row.expires_at <= now:
        return None
    return row.access_token, row.expires_at


def take_refresh_lease(session: Session, key: str, now: datetime, lease: timedelta) -> bool:
    """Become the one process that refreshes the token; False while another holds an unexpired lease."""
    insert_if_absent(session, WecomToken, {"key": key})
    result = session.execute(
        update(WecomToken)
        .where(
            WecomToken.key == key,
            or_(WecomToken.refreshing_until.is_(None), WecomToken.refreshing_until <= now),
            # A token stored since this caller looked is still good: nobody needs to fetch another.
            or_(WecomToken.access_token.is_(None), WecomToken.expires_at.is_(None), WecomToken.expires_at <= now),
        )
        .values(refreshing_until=now + lease)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def store_token(session: Session, key: str, token: str, expires_at: datetime) -> None:
    """Save a fresh token and release the refresh lease."""
    session.execute(
        update(WecomToken)
        .where(WecomToken.key == key)
        .values(access_token=token, expires_at=expires_at, refreshing_until=None)
        .execution_options(synchronize_session=False)
    )


def release_lease(session: Session, key: str) -> None:
    """Give up the refresh lease after a failed gettoken so another process may try at once."""
    session.execute(
        update(WecomToken)
        .where(WecomToken.key == key)
        .values(refreshing_until=None)
        .execution_options(synchronize_session=False)
    )


def invalidate(session: Session, key: str, token: str) -> bool:
    """Forget `token` after WeCom called it expired; a newer token another process stored is kept."""
    result = session.execute(
        update(WecomToken)
        .where(WecomToken.key == key, WecomToken.access_token == token)
        .values(access_token=None, expires_at=None)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1
