"""Read-only figures for the admin console that no aggregate's own module answers.

Everything here only reads; each function takes the chats the viewer may see, so a guide's pages
never count another guide's groups. Days are local days of `zone`, buckets filled with zeros.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from models.checkin import Checkin
from models.groupbuy import Deal
from models.ledger import PointsEntry
from models.membership import Membership, MembershipChange, Person
from models.nudge import Nudge
from models.outbox import OutboxMessage
from models.processed_event import ProcessedEvent
from models.quiz import Quiz, QuizAnswer
from models.rewards import Redemption


def local_days(end: datetime, days: int, zone: ZoneInfo) -> list[date]:
    """The `days` local dates ending with the one `end` falls on, oldest first."""
    last = end.astimezone(zone).date()
    return [last - timedelta(days=n) for n in range(days - 1, -1, -1)]


def _bucket(times: Iterable[datetime], days: list[date], zone: ZoneInfo) -> list[int]:
    counts = Counter(at.astimezone(zone).date() for at in times)
    return [counts.get(day, 0) for day in days]


# --- 概览 -----------------------------------------------------------------------------------------------


def events_by_source(session: Session, since: datetime) -> dict[str, int]:
    """Inbound messages and events handled since `since`, by the channel they came in on."""
    rows = session.execute(
        select(ProcessedEvent.source, func.count())
        .where(ProcessedEvent.received_at >= since)
        .group_by(ProcessedEvent.source)
    )
    return {str(source): int(count) for source, count in rows}


def events_per_day(session: Session, days: list[date], start: datetime, zone: ZoneInfo) -> dict[str, list[int]]:
    """Inbound events per local day since `start`, one series per channel."""
    rows = session.execute(
        select(ProcessedEvent.source, ProcessedEvent.received_at).where(ProcessedEvent.received_at >= start)
    )
    by_source: dict[str, list[datetime]] = {}
    for source, at in rows:
        by_source.setdefault(str(source), []).append(at)
    return {source: _bucket(times, days, zone) for source, times in sorted(by_source.items())}


def sent_by_purpose(session: Session, since: datetime) -> dict[str, int]:
    """Rows sent since `since`: answers (replies to someone) and pushes (the bot speaking first)."""
    purpose = OutboxMessage.payload["purpose"].as_string()
    rows = session.execute(
        select(purpose, func.count())
        .where(OutboxMessage.status == "sent", OutboxMessage.sent_at >= since)
        .group_by(purpose)
    )
    return {str(kind or "push"): int(count) for kind, count in rows}


def outbox_by_state(session: Session) -> list[tuple[str, str, int]]:
    """(status, channel, rows) over the whole outbox."""
    rows = session.execute(
        select(OutboxMessage.status, OutboxMessage.channel, func.count())
        .group_by(OutboxMessage.status, OutboxMessage.channel)
        .order_by(OutboxMessage.status, OutboxMessage.channel)
    )
    return [(str(status), str(channel), int(count)) for status, channel, count in rows]


def failed_rows(session: Session, chat_ids: list[str] | None, limit: int = 20) -> list[OutboxMessage]:
    """The newest failed rows; for a guide only those for their groups."""
    query = select(OutboxMessage).where(OutboxMessage.status == "failed")
    if chat_ids is not None:
        query = query.where(OutboxMessage.channel == "group", OutboxMessage.target.in_(chat_ids))
    return list(session.scalars(query.order_by(OutboxMessage.id.desc()).limit(limit)))


# --- 群 ---------------------------------------------------------------------------------------------------


def changes_per_day(
    session: Session, chat_id: str, days: list[date], start: datetime, zone: ZoneInfo
) -> tuple[list[int], list[int]]:
    """Joins and leaves of `chat_id` per local day since `start`."""
    rows = session.execute(
        select(MembershipChange.change, MembershipChange.at).where(
            MembershipChange.chat_id == chat_id, MembershipChange.at >= start
        )
    ).all()
    joins = _bucket((at for change, at in rows if change == "join"), days, zone)
    leaves = _bucket((at for change, at in rows if change == "leave"), days, zone)
    return joins, leaves


def active_and_dormant(
    session: Session, chat_id: str, *, active_since: datetime, dormant_before: datetime
) -> tuple[int, int]:
    """Members present now who spoke since `active_since`, and those silent since before `dormant_before`."""
    present = (Membership.chat_id == chat_id, Membership.joined_at.is_not(None), Membership.left_at.is_(None))
    active = session.scalar(
        select(func.count()).select_from(Membership).where(*present, Membership.last_active_at >= active_since)
    )
    dormant = session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(*present, or_(Membership.last_active_at < dormant_before, Membership.last_active_at.is_(None)))
    )
    return int(active or 0), int(dormant or 0)


def sent_to_chat(session: Session, chat_id: str, since: datetime, limit: int = 30) -> list[OutboxMessage]:
    """Rows for `chat_id` sent (by a transport or by the guide's sidebar) since `since`, newest first."""
    query = (
        select(OutboxMessage)
        .where(
            OutboxMessage.channel == "group",
            OutboxMessage.target == chat_id,
            OutboxMessage.status == "sent",
            OutboxMessage.sent_at >= since,
        )
        .order_by(OutboxMessage.sent_at.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


# --- 成员 -------------------------------------------------------------------------------------------------


def find_members(
    session: Session, text: str, chat_ids: list[str] | None, limit: int = 50
) -> list[tuple[str, str | None]]:
    """(user_id, name) of people whose name contains `text` or whose id is `text`; only in `chat_ids` if given."""
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    query = select(Person.user_id, Person.display_name).where(
        or_(Person.user_id == text, Person.display_name.like(pattern, escape="\\"))
    )
    if chat_ids is not None:
        members = select(Membership.user_id).where(Membership.chat_id.in_(chat_ids))
        query = query.where(Person.user_id.in_(members))
    return [(str(u), n) for u, n in session.execute(query.order_by(Person.user_id).limit(limit))]


def member_chats(session: Session, user_id: str) -> list[Membership]:
    """Every membership of `user_id`, present or past."""
    return list(session.scalars(select(Membership).where(Membership.user_id == user_id).order_by(Membership.chat_id)))


def ledger_of(session: Session, user_id: str, limit: int = 50) -> list[PointsEntry]:
    return list(
        session.scalars(
            select(PointsEntry).where(PointsEntry.user_id == user_id).order_by(PointsEntry.id.desc()).limit(limit)
        )
    )


def checkins_of(session: Session, user_id: str, limit: int = 30) -> list[Checkin]:
    return list(
        session.scalars(select(Checkin).where(Checkin.user_id == user_id).order_by(Checkin.day.desc()).limit(limit))
    )


def redemptions_of(session: Session, user_id: str, limit: int = 30) -> list[Redemption]:
    return list(
        session.scalars(
            select(Redemption).where(Redemption.user_id == user_id).order_by(Redemption.id.desc()).limit(limit)
        )
    )


def quiz_answers_of(session: Session, user_id: str, limit: int = 30) -> list[tuple[QuizAnswer, Quiz]]:
    query = (
        select(QuizAnswer, Quiz)
        .join(Quiz, Quiz.id == QuizAnswer.quiz_id)
        .where(QuizAnswer.user_id == user_id)
        .order_by(QuizAnswer.id.desc())
        .limit(limit)
    )
    return [(answer, quiz) for answer, quiz in session.execute(query)]


def nudges_of(session: Session, user_id: str, limit: int = 30) -> list[Nudge]:
    return list(session.scalars(select(Nudge).where(Nudge.user_id == user_id).order_by(Nudge.id.desc()).limit(limit)))


# --- 团购, 竞猜, 导购 ---------------------------------------------------------------------------------------


def deals(session: Session, chat_ids: list[str] | None, viewer: str | None, limit: int = 100) -> list[Deal]:
    """Deals newest first; for a guide (`chat_ids` given) those in their groups or opened by them."""
    query = select(Deal)
    if chat_ids is not None:
        query = query.where(or_(Deal.chat_id.in_(chat_ids), Deal.opened_by == (viewer or "")))
    return list(session.scalars(query.order_by(Deal.id.desc()).limit(limit)))


def quizzes(session: Session, chat_ids: list[str] | None, limit: int = 50) -> list[Quiz]:
    query = select(Quiz)
    if chat_ids is not None:
        query = query.where(Quiz.chat_id.in_(chat_ids))
    return list(session.scalars(query.order_by(Quiz.id.desc()).limit(limit)))


def members_credited(session: Session) -> dict[str, int]:
    """Members present in some group now, by the guide they are credited to."""
    rows = session.execute(
        select(Membership.guide, func.count(func.distinct(Membership.user_id)))
        .where(Membership.guide.is_not(None), Membership.joined_at.is_not(None), Membership.left_at.is_(None))
        .group_by(Membership.guide)
    )
    return {str(guide): int(count) for guide, count in rows}
