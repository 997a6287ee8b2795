"""Reactivation nudges: who was nudged (or held out) at which ladder step of which dormant spell, and who came back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Index,
    Integer,
    Select,
    String,
    and_,
    exists,
    func,
    select,
    text,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, UTCDateTime, insert_if_absent, one_of
from models.membership import Membership


class NudgeOutcome(StrEnum):
    SENT = "sent"  # a message was queued
    HOLDOUT = "holdout"  # due, but the member is in the holdout: nothing sent, recorded for the report
    UNREACHABLE = "unreachable"  # due, but this group kind or member cannot get this action (no guide, no @ in tasks)


SENT = NudgeOutcome.SENT
HOLDOUT = NudgeOutcome.HOLDOUT
UNREACHABLE = NudgeOutcome.UNREACHABLE
OUTCOMES = tuple(outcome.value for outcome in NudgeOutcome)


class Nudge(Base):
    """One ladder step of one dormant spell of one member in one group; the spell is named by the activity it began at.

    The unique key makes a step happen once per spell however many passes (or schedulers) look;
    a member who speaks again moves last_active_at, so the next spell is a new key and starts at step 1.
    """

    __tablename__ = "reactivation_nudges"
    __table_args__ = (
        CheckConstraint(one_of("outcome", NudgeOutcome), name="outcome"),
        CheckConstraint("step >= 1", name="step"),
        Index("uq_reactivation_nudges_spell_step", "chat_id", "user_id", "spell_start", "step", unique=True),
        # The minimum gap asks "when was this member last nudged", anywhere.
        Index("ix_reactivation_nudges_user_at", "user_id", "at"),
        # The daily caps and the report count by time.
        Index("ix_reactivation_nudges_at", "at"),
        # Activity closes only the few nudges still waiting for a comeback, on every message: keep that lookup small.
        Index(
            "ix_reactivation_nudges_waiting",
            "chat_id",
            "user_id",
            postgresql_where=text("reactivated_at IS NULL"),
            sqlite_where=text("reactivated_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chat_id: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[str] = mapped_column(String(128))
    spell_start: Mapped[datetime] = mapped_column(UTCDateTime())
    step: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))
    holdout: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    reactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


@dataclass(frozen=True)
class Dormant:
    """A member silent in a group since `last_active_at`, due for one ladder step."""

    chat_id: str
    user_id: str
    last_active_at: datetime
    guide: str | None


def dormant_query(
    *,
    step: int,
    silent_since: datetime,
    silent_until: datetime,
    chat_ids: list[str],
    gap_since: datetime | None,
    limit: int,
) -> Select[str, str, datetime | None, str | None]:
    """Open members of `chat_ids` last active in [silent_since, silent_until] who have not had `step` this spell.

    Served by the index on last_active_at, oldest silence first, so one pass reads only the dormant
    window, never the active majority. With `gap_since`, members nudged (anywhere) after it are left
    for a later pass.
    """
    m = Membership
    done = exists().where(
        Nudge.chat_id == m.chat_id,
        Nudge.user_id == m.user_id,
        Nudge.spell_start == m.last_active_at,
        Nudge.step == step,
    )
    query = select(m.chat_id, m.user_id, m.last_active_at, m.guide).where(
        m.last_active_at >= silent_since,
        m.last_active_at <= silent_until,
        m.left_at.is_(None),
        m.joined_at.is_not(None),
        m.chat_id.in_(chat_ids),
        ~done,
    )
    if gap_since is not None:
        recent = exists().where(Nudge.user_id == m.user_id, Nudge.at > gap_since, Nudge.outcome == SENT)
        query = query.where(~recent)
    return query.order_by(m.last_active_at).limit(limit)


def dormant_candidates(session: Session, **window: Any) -> list[Dormant]:
    """Run `dormant_query` (same arguments) and return the members it finds."""
    if not window.get("chat_ids"):
        return []
    rows = session.execute(dormant_query(**window))
    # last_active_at is never NULL here: the query keeps only members last active since `silent_since`.
    return [Dormant(chat, user, cast(datetime, active), guide) for chat, user, active, guide in rows]


def record(
    session: Session,
    member: Dormant,
    *,
    step: int,
    action: str,
    outcome: str,
    holdout: bool,
    at: datetime,
) -> bool:
    """Record `step` of this member's spell; True when this call did (False: another pass already had it)."""
    return insert_if_absent(
        session,
        Nudge,
        {
            "chat_id": member.chat_id,
            "user_id": member.user_id,
            "spell_start": member.last_active_at,
            "step": step,
            "action": action,
            "outcome": outcome,
            "holdout": holdout,
            "at": at,
            "reactivated_at": None,
        },
    )


def sent_since(session: Session, since: datetime) -> tuple[int, dict[str, int]]:
    """Return how many nudges were sent since `since`, in all and per group (the daily caps count these)."""
    rows = session.execute(
        select(Nudge.chat_id, func.count()).where(Nudge.at >= since, Nudge.outcome == SENT).group_by(Nudge.chat_id)
    )
    per_group = {chat: int(count) for chat, count in rows}
    return sum(per_group.values()), per_group


def note_comeback(session: Session, *, chat_id: str, user_id: str, at: datetime) -> None:
    """Mark this member's ladder records in `chat_id` before `at` as answered by activity at `at`."""
    session.execute(
        update(Nudge)
        .where(
            Nudge.chat_id == chat_id,
            Nudge.user_id == user_id,
            Nudge.reactivated_at.is_(None),
            Nudge.at < at,
        )
        .values(reactivated_at=at)
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class CohortFigures:
    """Dormant spells that entered the ladder in a period, and how many came back within the period."""

    spells: int
    reactivated: int

    @property
    def rate(self) -> float | None:
        return self.reactivated / self.spells if self.spells else None


@dataclass(frozen=True)
class ReactivationFigures:
    nudged: CohortFigures
    holdout: CohortFigures
    unreachable: int
    sent_by_step: dict[int, int]


def figures(session: Session, *, since: datetime, until: datetime, within: timedelta) -> ReactivationFigures:
    """Compare spells nudged with spells held out whose first ladder record falls in [since, until).

    A spell counts as nudged when any message went out in it, as held out when the member is in the
    holdout; it came back when the member was active within `within` of that first record.
    """
    first = (
        select(
            Nudge.chat_id,
            Nudge.user_id,
            Nudge.spell_start,
            func.min(Nudge.at).label("first_at"),
            func.max(Nudge.holdout.cast(Integer)).label("held"),
            func.max((Nudge.outcome == SENT).cast(Integer)).label("sent"),
            func.min(Nudge.reactivated_at).label("back_at"),
        )
        .group_by(Nudge.chat_id, Nudge.user_id, Nudge.spell_start)
        .subquery()
    )
    in_period = and_(first.c.first_at >= since, first.c.first_at < until)
    rows = session.execute(select(first.c.first_at, first.c.held, first.c.sent, first.c.back_at).where(in_period))
    counts = {"nudged": [0, 0], "holdout": [0, 0], "unreachable": [0, 0]}
    for first_at, held, sent, back_at in rows:
        kind = "holdout" if held else "nudged" if sent else "unreachable"
        counts[kind][0] += 1
        if back_at is not None and back_at - first_at <= within:
            counts[kind][1] += 1
    by_step = session.execute(
        select(Nudge.step, func.count())
        .where(Nudge.at >= since, Nudge.at < until, Nudge.outcome == SENT)
        .group_by(Nudge.step)
        .order_by(Nudge.step)
    )
    return ReactivationFigures(
        nudged=CohortFigures(*counts["nudged"]),
        holdout=CohortFigures(*counts["holdout"]),
        unreachable=counts["unreachable"][0],
        sent_by_step={int(step): int(count) for step, count in by_step},
    )
