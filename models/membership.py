"""Who is in which group: people, groups, memberships and the join/leave history behind the figures."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, Index, Integer, String, UniqueConstraint, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, UTCDateTime, insert_if_absent, one_of, rowcount

log = logging.getLogger(__name__)

# WeCom's sender of customer-group events; it is no person.
SYSTEM_SENDER = "sys"


class ChangeKind(StrEnum):
    JOIN = "join"
    LEAVE = "leave"


JOIN = ChangeKind.JOIN
LEAVE = ChangeKind.LEAVE


class Person(Base):
    """Someone the bot has heard of, with the name to show when one is known."""

    __tablename__ = "people"

    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(128))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ChatGroup(Base):
    """A group the bot has heard about, configured in YAML or only discovered from events."""

    __tablename__ = "chat_groups"
    __table_args__ = (CheckConstraint("joins_since_rules >= 0", name="joins_since_rules"),)

    chat_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(128))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    dismissed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # New members since the rules were last re-posted (rules.remind_every.members).
    joins_since_rules: Mapped[int] = mapped_column(Integer, default=0)


class Membership(Base):
    """One person in one group: open while left_at is null; rejoining reopens the same row."""

    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("chat_id", "user_id"),
        # A leave seen before its join leaves joined_at empty, but a row always records something.
        CheckConstraint("joined_at IS NOT NULL OR left_at IS NOT NULL", name="seen"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chat_id: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[str] = mapped_column(String(128), index=True)
    joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    join_scene: Mapped[int | None] = mapped_column(Integer)
    quit_scene: Mapped[int | None] = mapped_column(Integer)
    inviter: Mapped[str | None] = mapped_column(String(128))
    guide: Mapped[str | None] = mapped_column(String(128))
    # The reactivation job asks "who has been quiet since X", so this is indexed.
    last_active_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)


class MembershipChange(Base):
    """One join or leave as it happened; the figures count these, so a rejoin counts again."""

    __tablename__ = "membership_changes"
    __table_args__ = (
        CheckConstraint(one_of("change", ChangeKind), name="change"),
        Index("ix_membership_changes_chat_at", "chat_id", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chat_id: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[str] = mapped_column(String(128))
    change: Mapped[str] = mapped_column(String(8))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


# ----------------------------------------------------------------- queries others rely on


def is_member(session: Session, chat_id: str, user_id: str) -> bool:
    """Tell whether `user_id` is in `chat_id` now."""
    found = session.scalar(
        select(Membership.id).where(
            Membership.chat_id == chat_id,
            Membership.user_id == user_id,
            Membership.joined_at.is_not(None),
            Membership.left_at.is_(None),
        )
    )
    return found is not None


# WeCom gives external contacts (WeChat customers) userids starting with these: opaque strings nobody reads.
EXTERNAL_ID_PREFIXES = ("wm", "wo")


def display_names(session: Session, user_ids: Iterable[str], stand_in: str | None = None) -> dict[str, str]:
    """Map each user id to its known name, else the id itself; an unnamed customer's opaque id becomes `stand_in`.

    Staff userids are the account names the company chose (zhangsan); a customer's external userid
    (wmXXXX…) means nothing to anyone, so members' texts show a friendly stand-in (新朋友) instead.
    """
    wanted = list(dict.fromkeys(user_ids))
    names: dict[str, str] = {
        user: stand_in if stand_in and user.startswith(EXTERNAL_ID_PREFIXES) else user for user in wanted
    }
    if wanted:
        rows = session.execute(
            select(Person.user_id, Person.display_name).where(
                Person.user_id.in_(wanted), Person.display_name.is_not(None)
            )
        )
        names.update({user: name for user, name in rows if name})
    return names


def members_named(session: Session, chat_ids: Iterable[str], name: str) -> list[str]:
    """Return the user ids, sorted, of the current members of `chat_ids` whose display name is `name`."""
    query = (
        select(Membership.user_id)
        .join(Person, Person.user_id == Membership.user_id)
        .where(
            Membership.chat_id.in_(list(chat_ids)),
            Membership.joined_at.is_not(None),
            Membership.left_at.is_(None),
            Person.display_name == name,
        )
        .distinct()
        .order_by(Membership.user_id)
    )
    return list(session.scalars(query))


def guide_of(session: Session, user_id: str, chat_id: str | None = None) -> str | None:
    """Return the guide a member is attributed to, in `chat_id` or in their most recent membership."""
    query = select(Membership.guide).where(Membership.user_id == user_id, Membership.guide.is_not(None))
    if chat_id is not None:
        query = query.where(Membership.chat_id == chat_id)
    else:
        recent = func.coalesce(Membership.joined_at, Membership.left_at)
        query = query.order_by(Membership.left_at.is_not(None), recent.desc(), Membership.id.desc())
    return session.scalar(query.limit(1))


def set_display_name(session: Session, user_id: str, name: str, now: datetime) -> bool:
    """Remember the name to show for `user_id` (from a WeCom lookup or the admin); True when it changed."""
    remember_person(session, user_id, now)
    result = session.execute(
        update(Person)
        .where(Person.user_id == user_id, Person.display_name.is_distinct_from(name))
        .values(display_name=name)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def set_inviter(session: Session, *, chat_id: str, user_id: str, inviter: str, staff: bool) -> bool:
    """Record who invited a member (known from WeCom's groupchat/get); a staff inviter becomes their guide."""
    values: dict[str, Any] = {"inviter": inviter}
    if staff:
        values["guide"] = inviter
    result = session.execute(
        update(Membership)
        .where(Membership.chat_id == chat_id, Membership.user_id == user_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def set_group_name(session: Session, chat_id: str, name: str, now: datetime) -> bool:
    """Remember a discovered group's name; True when it changed."""
    remember_group(session, chat_id, now)
    result = session.execute(
        update(ChatGroup)
        .where(ChatGroup.chat_id == chat_id, ChatGroup.name.is_distinct_from(name))
        .values(name=name)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


@dataclass(frozen=True)
class MemberState:
    """One membership row as a group sync compares it: open or closed, and whom it is attributed to."""

    user_id: str
    joined_at: datetime | None
    left_at: datetime | None
    join_scene: int | None
    inviter: str | None
    guide: str | None

    @property
    def open(self) -> bool:
        return self.joined_at is not None and self.left_at is None


def memberships_in(session: Session, chat_id: str) -> dict[str, MemberState]:
    """Return every membership row of `chat_id` (open and closed) by user id."""
    rows = session.execute(
        select(
            Membership.user_id,
            Membership.joined_at,
            Membership.left_at,
            Membership.join_scene,
            Membership.inviter,
            Membership.guide,
        ).where(Membership.chat_id == chat_id)
    )
    return {row.user_id: MemberState(*row) for row in rows}


def fill_join_scene(session: Session, *, chat_id: str, user_id: str, join_scene: int) -> bool:
    """Record how a member joined when the bot never learned it (a join seen without JoinScene); True if filled."""
    result = session.execute(
        update(Membership)
        .where(Membership.chat_id == chat_id, Membership.user_id == user_id, Membership.join_scene.is_(None))
        .values(join_scene=join_scene)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


# ----------------------------------------------------------------- writes


def remember_person(session: Session, user_id: str, now: datetime) -> None:
    """Record that the bot has heard of `user_id`."""
    insert_if_absent(session, Person, {"user_id": user_id, "first_seen_at": now})


def remember_group(session: Session, chat_id: str, now: datetime) -> None:
    """Record that the bot has heard of `chat_id`."""
    insert_if_absent(session, ChatGroup, {"chat_id": chat_id, "first_seen_at": now, "joins_since_rules": 0})


def _insert_absent_rows(session: Session, model: type[Base], rows: list[dict[str, Any]], key: Any) -> set[str]:
    """Insert the rows whose unique key is free in one statement; return `key` of those this call inserted."""
    if not rows:
        return set()
    dialect = session.get_bind().dialect.name
    dml = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # Sorted by key so two waves naming the same people take their index locks in one order (no deadlock).
    rows = sorted(rows, key=lambda row: str(row[key.key]))
    return set(session.scalars(dml(model).values(rows).on_conflict_do_nothing().returning(key)))


def join_many(
    session: Session, *, chat_id: str, user_ids: list[str], at: datetime, guide: str | None, join_scene: int | None
) -> list[str]:
    """Record a wave of joins in a few statements; return, in order, who newly joined (see `join`)."""
    wanted = list(dict.fromkeys(user_ids))
    remember_group(session, chat_id, at)
    _insert_absent_rows(
        session, Person, [{"user_id": u, "display_name": None, "first_seen_at": at} for u in wanted], Person.user_id
    )
    fresh = {"joined_at": at, "join_scene": join_scene, "inviter": None, "last_active_at": at}
    rows = [
        {"chat_id": chat_id, "user_id": u, "left_at": None, "quit_scene": None, "guide": guide, **fresh} for u in wanted
    ]
    created = _insert_absent_rows(session, Membership, rows, Membership.user_id)
    if created:
        changes = [{"chat_id": chat_id, "user_id": u, "change": JOIN, "at": at} for u in wanted if u in created]
        session.execute(insert(MembershipChange), changes)
    # Members seen before take the careful path one by one; in a wave they are few.
    reopened = {
        u
        for u in wanted
        if u not in created and join(session, chat_id=chat_id, user_id=u, at=at, guide=guide, join_scene=join_scene)
    }
    return [u for u in wanted if u in created or u in reopened]


def _log_change(session: Session, chat_id: str, user_id: str, change: str, at: datetime) -> None:
    session.execute(insert(MembershipChange).values(chat_id=chat_id, user_id=user_id, change=change, at=at))


def join(
    session: Session,
    *,
    chat_id: str,
    user_id: str,
    at: datetime,
    guide: str | None,
    join_scene: int | None = None,
    inviter: str | None = None,
) -> bool:
    """Record that `user_id` joined `chat_id` at `at`; True when this opened (or reopened) the membership.

    A join already recorded changes nothing; a join older than a recorded leave (events out of
    order) fills in the history but leaves the membership closed.
    """
    remember_group(session, chat_id, at)
    remember_person(session, user_id, at)
    fresh = {"joined_at": at, "join_scene": join_scene, "inviter": inviter, "last_active_at": at}
    if insert_if_absent(
        session, Membership, {"chat_id": chat_id, "user_id": user_id, "left_at": None, "guide": guide, **fresh}
    ):
        _log_change(session, chat_id, user_id, JOIN, at)
        return True
    mine = (Membership.chat_id == chat_id) & (Membership.user_id == user_id)
    # A staff inviter known now outranks the earlier attribution; otherwise the first guide stays.
    new_guide: Any = guide if inviter is not None and guide == inviter else func.coalesce(Membership.guide, guide)
    reopened = session.execute(
        update(Membership)
        .where(mine, Membership.left_at.is_not(None), Membership.left_at <= at)
        .values(**fresh, left_at=None, quit_scene=None, guide=new_guide)
        .execution_options(synchronize_session=False)
    )
    if rowcount(reopened) == 1:
        _log_change(session, chat_id, user_id, JOIN, at)
        return True
    backfilled = session.execute(
        update(Membership)
        .where(mine, Membership.joined_at.is_(None))
        .values(joined_at=at, join_scene=join_scene, inviter=inviter, guide=func.coalesce(Membership.guide, guide))
        .execution_options(synchronize_session=False)
    )
    if rowcount(backfilled) == 1:
        _log_change(session, chat_id, user_id, JOIN, at)
    return False


def leave(session: Session, *, chat_id: str, user_id: str, at: datetime, quit_scene: int | None = None) -> bool:
    """Record that `user_id` left `chat_id` at `at`; True when this closed the membership.

    A leave seen before its join creates a closed membership; a leave older than the current
    join (a late delivery from before a rejoin) is ignored.
    """
    remember_group(session, chat_id, at)
    remember_person(session, user_id, at)
    if insert_if_absent(
        session,
        Membership,
        {"chat_id": chat_id, "user_id": user_id, "joined_at": None, "left_at": at, "quit_scene": quit_scene},
    ):
        _log_change(session, chat_id, user_id, LEAVE, at)
        return True
    closed = session.execute(
        update(Membership)
        .where(
            Membership.chat_id == chat_id,
            Membership.user_id == user_id,
            Membership.left_at.is_(None),
            Membership.joined_at <= at,
        )
        .values(left_at=at, quit_scene=quit_scene)
        .execution_options(synchronize_session=False)
    )
    if rowcount(closed) == 1:
        _log_change(session, chat_id, user_id, LEAVE, at)
        return True
    return False


def seen_in_chat(session: Session, *, chat_id: str, user_id: str, at: datetime, guide: str | None) -> None:
    """Make a user heard in a chat a member of it, without counting a join (the join itself was never seen)."""
    remember_group(session, chat_id, at)
    remember_person(session, user_id, at)
    values = {"chat_id": chat_id, "user_id": user_id, "joined_at": at, "guide": guide, "last_active_at": at}
    if insert_if_absent(session, Membership, values):
        return
    # Speaking proves presence: a membership closed by a leave older than this message is open again.
    session.execute(
        update(Membership)
        .where(
            Membership.chat_id == chat_id,
            Membership.user_id == user_id,
            Membership.left_at.is_not(None),
            Membership.left_at < at,
        )
        .values(joined_at=at, left_at=None, quit_scene=None, guide=func.coalesce(Membership.guide, guide))
        .execution_options(synchronize_session=False)
    )


def dismiss(session: Session, *, chat_id: str, at: datetime) -> bool:
    """Mark a group dismissed and close its open memberships; True the first time."""
    remember_group(session, chat_id, at)
    marked = session.execute(
        update(ChatGroup)
        .where(ChatGroup.chat_id == chat_id, ChatGroup.dismissed_at.is_(None))
        .values(dismissed_at=at)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Membership)
        .where(Membership.chat_id == chat_id, Membership.left_at.is_(None))
        .values(left_at=at)
        .execution_options(synchronize_session=False)
    )
    return rowcount(marked) == 1


def count_joins_for_rules(session: Session, chat_id: str, joined: int, every: int) -> bool:
    """Add `joined` new members to the chat's count; True (and the count restarts) when it reaches `every`."""
    session.execute(
        update(ChatGroup)
        .where(ChatGroup.chat_id == chat_id)
        .values(joins_since_rules=ChatGroup.joins_since_rules + joined)
        .execution_options(synchronize_session=False)
    )
    due = session.execute(
        update(ChatGroup)
        .where(ChatGroup.chat_id == chat_id, ChatGroup.joins_since_rules >= every)
        .values(joins_since_rules=ChatGroup.joins_since_rules % every)
        .execution_options(synchronize_session=False)
    )
    return rowcount(due) == 1


# ----------------------------------------------------------------- figures


@dataclass(frozen=True)
class GroupFigures:
    members: int
    joined_today: int
    left_today: int
    joined_7d: int
    left_7d: int
    silent: int


def _changes(session: Session, chat_id: str, change: str, since: datetime, until: datetime) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(MembershipChange)
            .where(
                MembershipChange.chat_id == chat_id,
                MembershipChange.change == change,
                MembershipChange.at >= since,
                MembershipChange.at <= until,
            )
        )
        or 0
    )


def change_counts(session: Session, chat_id: str, *, since: datetime, until: datetime) -> tuple[int, int]:
    """Return how many joined and how many left `chat_id` between `since` and `until`."""
    return _changes(session, chat_id, JOIN, since, until), _changes(session, chat_id, LEAVE, since, until)


def current_members(session: Session, chat_id: str) -> list[str]:
    """Return the userids in `chat_id` now, sorted."""
    query = select(Membership.user_id).where(
        Membership.chat_id == chat_id, Membership.joined_at.is_not(None), Membership.left_at.is_(None)
    )
    return sorted(session.scalars(query))


def member_count(session: Session, chat_id: str, exclude: Iterable[str] = ()) -> int:
    """Return how many people are in `chat_id` now, leaving out `exclude` (staff)."""
    query = (
        select(func.count())
        .select_from(Membership)
        .where(Membership.chat_id == chat_id, Membership.joined_at.is_not(None), Membership.left_at.is_(None))
    )
    left_out = sorted(set(exclude))
    if left_out:
        query = query.where(Membership.user_id.not_in(left_out))
    return session.scalar(query) or 0


def group_figures(
    session: Session,
    chat_id: str,
    *,
    now: datetime,
    day_start: datetime,
    silent_days: int,
    exclude: Iterable[str] = (),
) -> GroupFigures:
    """Return members now, joins and leaves since `day_start` and in the last 7 days, and the silent count."""
    week_ago = now - timedelta(days=7)
    quiet_since = now - timedelta(days=silent_days)
    silent = (
        session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(
                Membership.chat_id == chat_id,
                Membership.joined_at.is_not(None),
                Membership.left_at.is_(None),
                Membership.last_active_at < quiet_since,
            )
        )
        or 0
    )
    return GroupFigures(
        members=member_count(session, chat_id, exclude),
        joined_today=_changes(session, chat_id, JOIN, day_start, now),
        left_today=_changes(session, chat_id, LEAVE, day_start, now),
        joined_7d=_changes(session, chat_id, JOIN, week_ago, now),
        left_7d=_changes(session, chat_id, LEAVE, week_ago, now),
        silent=silent,
    )


def known_groups(session: Session) -> list[ChatGroup]:
    """Return every group the bot has heard of."""
    return list(session.scalars(select(ChatGroup).order_by(ChatGroup.first_seen_at, ChatGroup.chat_id)))


def group_known(session: Session, chat_id: str) -> bool:
    """Tell whether the bot has heard of `chat_id`."""
    return session.get(ChatGroup, chat_id) is not None


def group_name_of(session: Session, chat_id: str) -> str | None:
    """Return the discovered name of `chat_id`, if one is known."""
    return session.scalar(select(ChatGroup.name).where(ChatGroup.chat_id == chat_id))


def find_group_by_name(session: Session, name: str) -> str | None:
    """Return the chat id of a discovered group called `name`."""
    return session.scalar(select(ChatGroup.chat_id).where(ChatGroup.name == name).limit(1))
