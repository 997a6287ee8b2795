"""The leader lease: one row per scheduler role naming the process that may act, and until when."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import String, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, UTCDateTime, insert_if_absent, rowcount


class SchedulerLease(Base):
    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


def acquire(session: Session, name: str, holder: str, now: datetime, lease: timedelta) -> bool:
    """Take or renew the lease `name` for `holder` until now + lease; False while another holder's lease runs.

    The insert and the conditional UPDATE are the whole guard: on PostgreSQL a second writer waits for the
    first to commit and then re-checks the WHERE against the renewed row, so two processes never both win;
    SQLite serialises the two with BEGIN IMMEDIATE.
    """
    if insert_if_absent(session, SchedulerLease, {"name": name, "holder": holder, "expires_at": now + lease}):
        return True
    result = session.execute(
        update(SchedulerLease)
        .where(
            SchedulerLease.name == name,
            or_(SchedulerLease.holder == holder, SchedulerLease.expires_at <= now),
        )
        .values(holder=holder, expires_at=now + lease)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def release(session: Session, name: str, holder: str, now: datetime) -> bool:
    """End `holder`'s lease now so a standby takes over at its next look; False when it held none."""
    result = session.execute(
        update(SchedulerLease)
        .where(SchedulerLease.name == name, SchedulerLease.holder == holder, SchedulerLease.expires_at > now)
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def current(session: Session, name: str) -> SchedulerLease | None:
    """Return the lease row `name` as stored now."""
    return session.scalars(
        select(SchedulerLease).where(SchedulerLease.name == name).execution_options(populate_existing=True)
    ).first()
