"""Membership and activity rules as plain functions, on SQLite and PostgreSQL, and under real concurrency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.clock import FrozenClock
from bot.events import Event
from bot.services import build_services
from handlers.members.observe import member_list
from models import OutboxMessage
from models.activity import ActivityHour, activity_counts, record_activity
from models.db import make_session_factory
from models.membership import (
    Membership,
    MembershipChange,
    display_names,
    guide_of,
    is_member,
    join,
    leave,
    set_display_name,
    set_inviter,
)
from tests.conftest import base_config, write_yaml
from tests.factories import config_from, load_handlers
from tests.handlers.members.chat import CUSTOMER, GROUPS
from tests.parallel import run_together

AT = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


@pytest.fixture
def session(engine: Engine):  # type: ignore[no-untyped-def]
    factory = make_session_factory(engine)
    with factory.begin() as session:
        yield session


def test_member_list_takes_one_or_many() -> None:
    """wechatpy gives one member as a string and several as a list; both read as a list, blanks dropped."""
    assert member_list({"MemChangeList": {"Item": "wmA"}}) == ["wmA"]
    assert member_list({"MemChangeList": {"Item": ["wmA", "wmB"]}}) == ["wmA", "wmB"]
    assert member_list({"MemChangeList": {"Item": ["wmA", " ", None]}}) == ["wmA"]
    assert member_list({}) == [] and member_list({"MemChangeList": None}) == []


def test_is_member_follows_join_and_leave(session: Session) -> None:
    """Only a currently open membership counts; a different chat does not."""
    assert not is_member(session, "wrA", "u1")
    assert join(session, chat_id="wrA", user_id="u1", at=AT, guide=None) is True
    assert is_member(session, "wrA", "u1") and not is_member(session, "wrB", "u1")
    assert leave(session, chat_id="wrA", user_id="u1", at=AT + timedelta(minutes=1)) is True
    assert not is_member(session, "wrA", "u1")
    assert leave(session, chat_id="wrA", user_id="u1", at=AT + timedelta(minutes=2)) is False


def test_display_names_fall_back_to_the_id(session: Session) -> None:
    """A known name is used; an unknown user shows as their id; duplicates are fine."""
    set_display_name(session, "u1", "张三", AT)
    assert display_names(session, ["u1", "u2", "u1"]) == {"u1": "张三", "u2": "u2"}
    assert display_names(session, []) == {}


def test_guide_attribution(session: Session) -> None:
    """The group's guide by default; a staff inviter known at a rejoin takes over; chat None = latest membership."""
    join(session, chat_id="wrA", user_id="u1", at=AT, guide="guide01")
    assert guide_of(session, "u1", "wrA") == "guide01"
    leave(session, chat_id="wrA", user_id="u1", at=AT + timedelta(hours=1))
    join(session, chat_id="wrA", user_id="u1", at=AT + timedelta(hours=2), guide="guide02", inviter="guide02")
    assert guide_of(session, "u1", "wrA") == "guide02"
    join(session, chat_id="wrB", user_id="u1", at=AT + timedelta(hours=3), guide="guide03")
    assert guide_of(session, "u1") == "guide03"
    assert guide_of(session, "u1", "wrC") is None and guide_of(session, "nobody") is None


def test_attributed_guide_prefers_a_staff_inviter() -> None:
    """The inviter is credited only when the YAML lists them as staff; otherwise the group's guide is."""
    from handlers.members.observe import attributed_guide

    config = config_from(
        {**base_config(), "groups": GROUPS, "roles": {"admins": ["boss"], "guides": ["guide01", "guide02"]}}
    )
    assert attributed_guide(config, CUSTOMER, "guide02") == "guide02"
    assert attributed_guide(config, CUSTOMER, "wmFriend") == "guide01"
    assert attributed_guide(config, CUSTOMER, None) == "guide01"
    assert attributed_guide(config, "wrUnknown", None) is None


def test_the_database_refuses_a_membership_without_any_time(engine: Engine) -> None:
    """A membership must know when it was joined or left; two rows for one member in one chat are refused."""
    for rows in (
        [Membership(chat_id="wrA", user_id="u1")],
        [Membership(chat_id="wrA", user_id="u1", joined_at=AT), Membership(chat_id="wrA", user_id="u1", joined_at=AT)],
    ):
        with Session(engine) as session:
            session.add_all(rows)
            with pytest.raises(IntegrityError):
                session.commit()


def test_activity_counts_by_window_chat_and_rank(session: Session) -> None:
    """Counts add up per member, are limited to the window and chat, and rank by count then user id."""
    join(session, chat_id="wrA", user_id="u1", at=AT, guide=None)
    for minutes, user, kind in [
        (0, "u1", "message"),
        (5, "u1", "checkin"),
        (10, "u2", "message"),
        (70, "u3", "answer"),
    ]:
        record_activity(session, chat_id="wrA", user_id=user, at=AT + timedelta(minutes=minutes), kind=kind)
    record_activity(session, chat_id="wrB", user_id="u2", at=AT, kind="signup")
    record_activity(session, chat_id=None, user_id="u3", at=AT, kind="message")
    until = AT + timedelta(hours=2)
    assert activity_counts(session, chat_id="wrA", since=AT, until=until, limit=10) == [("u1", 2), ("u2", 1), ("u3", 1)]
    assert activity_counts(session, chat_id=None, since=AT, until=until, limit=2) == [("u1", 2), ("u2", 2)]
    assert activity_counts(session, chat_id="wrA", since=AT, until=AT + timedelta(hours=1), limit=10) == [
        ("u1", 2),
        ("u2", 1),
    ]
    assert activity_counts(session, chat_id="wrA", since=AT + timedelta(hours=1), until=until, limit=10) == [("u3", 1)]
    member = session.scalars(select(Membership).where(Membership.user_id == "u1")).one()
    assert member.last_active_at == AT + timedelta(minutes=5)
    # An older event delivered late does not move last activity back.
    record_activity(session, chat_id="wrA", user_id="u1", at=AT - timedelta(days=1), kind="message")
    session.refresh(member)
    assert member.last_active_at == AT + timedelta(minutes=5)


def test_record_activity_refuses_bad_input(session: Session) -> None:
    """An unknown kind or a naive time is a programming error, refused before anything is written."""
    with pytest.raises(ValueError, match="kind"):
        record_activity(session, chat_id="wrA", user_id="u1", at=AT, kind="dance")
    with pytest.raises(ValueError, match="aware"):
        record_activity(session, chat_id="wrA", user_id="u1", at=AT.replace(tzinfo=None), kind="message")
    assert session.scalars(select(ActivityHour)).all() == []


# --- concurrency (PostgreSQL, real parallel connections) ------------------------------------------------


@pytest.mark.postgres_only
def test_parallel_joins_in_one_chat_share_one_welcome(pg_engine: Engine, tmp_path: Path, clock: FrozenClock) -> None:
    """Twelve join events for one chat handled at once on their own connections: one welcome naming all twelve."""
    config = write_yaml(tmp_path / "config.yaml", {**base_config(), "groups": GROUPS})
    services = build_services(str(config), registry=load_handlers(), clock=clock, engine=pg_engine)
    users = [f"wm{i:02d}" for i in range(12)]

    def joined(index: int) -> None:
        data = {
            "ChatId": CUSTOMER,
            "ChangeType": "update",
            "UpdateDetail": "add_member",
            "MemChangeList": {"Item": users[index]},
        }
        event = Event(
            kind="event",
            source="app",
            user_id="sys",
            chat_id=CUSTOMER,
            at=clock.now(),
            name="change_external_chat",
            data=data,
        )
        services.dispatcher.handle(event)

    run_together(len(users), joined)
    with Session(pg_engine) as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.target == CUSTOMER)).all()
        joins = session.scalars(select(MembershipChange.user_id)).all()
    assert sorted(joins) == users
    assert len(rows) == 1
    assert sorted(rows[0].payload["mentions"]) == users


@pytest.mark.postgres_only
def test_parallel_joins_of_one_member_count_once(pg_engine: Engine) -> None:
    """The same member joining through eight concurrent transactions is one join and one membership."""
    factory = make_session_factory(pg_engine)
    results: list[bool] = []

    def joined(index: int) -> None:
        with factory.begin() as session:
            results.append(join(session, chat_id="wrA", user_id="u1", at=AT, guide=None, join_scene=index))

    run_together(8, joined)
    assert results.count(True) == 1
    with Session(pg_engine) as session:
        assert len(session.scalars(select(MembershipChange)).all()) == 1
        assert len(session.scalars(select(Membership)).all()) == 1


@pytest.mark.postgres_only
def test_parallel_activity_is_never_lost(pg_engine: Engine) -> None:
    """Ten concurrent actions by one member in one hour add up to ten."""
    factory = make_session_factory(pg_engine)

    def acted(index: int) -> None:
        with factory.begin() as session:
            record_activity(session, chat_id="wrA", user_id="u1", at=AT + timedelta(seconds=index), kind="message")

    run_together(10, acted)
    with factory() as session:
        assert activity_counts(session, chat_id="wrA", since=AT, until=AT + timedelta(hours=1), limit=5) == [("u1", 10)]


def test_inviter_learned_later_reattributes_only_when_staff(session: Session) -> None:
    """groupchat/get names the inviter after the join: a staff inviter takes the member, a customer is only noted."""
    join(session, chat_id="wrA", user_id="u1", at=AT, guide="guide01")
    join(session, chat_id="wrA", user_id="u2", at=AT, guide="guide01")
    assert set_inviter(session, chat_id="wrA", user_id="u1", inviter="guide02", staff=True) is True
    assert set_inviter(session, chat_id="wrA", user_id="u2", inviter="wmFriend", staff=False) is True
    assert set_inviter(session, chat_id="wrA", user_id="nobody", inviter="guide02", staff=True) is False
    assert guide_of(session, "u1", "wrA") == "guide02" and guide_of(session, "u2", "wrA") == "guide01"
    inviters = dict(session.execute(select(Membership.user_id, Membership.inviter)).all())
    assert inviters == {"u1": "guide02", "u2": "wmFriend"}
