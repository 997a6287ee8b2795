"""Joins and leaves through the real encrypted /wecom/callback: membership, one welcome per wave, edge cases."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.clock import FrozenClock
from bot.services import Services
from models import outbox as outbox_rows
from models.activity import activity_counts
from models.membership import ChatGroup, Membership, Person, guide_of, is_member, set_display_name
from tests import factories
from tests.factories import default_texts
from tests.handlers.members.chat import CUSTOMER, STRANGER, TEAM, GroupBot, make_group_bot

TEXTS = default_texts()


@pytest.fixture
def bot(make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock) -> GroupBot:
    return make_group_bot(make_services, tmp_path, clock)


def member(bot: GroupBot, chat: str, user: str) -> bool:
    with bot.services.session_factory() as session:
        return is_member(session, chat, user)


def test_join_records_membership_and_queues_a_delayed_welcome(bot: GroupBot) -> None:
    """One member joins a customer group: they are a member, credited to its guide, and one welcome waits 60 s."""
    assert bot.join(CUSTOMER, ["wmAlice"], join_scene=3) == 200
    assert member(bot, CUSTOMER, "wmAlice")
    row = bot.membership(CUSTOMER, "wmAlice")
    assert row is not None and row.join_scene == 3 and row.joined_at == bot.clock.now() and row.inviter is None
    with bot.services.session_factory() as session:
        assert guide_of(session, "wmAlice", CUSTOMER) == "guide01"
        assert guide_of(session, "wmAlice") == "guide01"
    [welcome] = bot.outbox()
    assert (welcome.channel, welcome.target_kind, welcome.target) == ("group", "chat", CUSTOMER)
    assert welcome.status == "pending"
    assert welcome.next_attempt_at == bot.clock.now() + timedelta(seconds=60)
    names = TEXTS["welcome_names_count"].format(count=1)
    expected = TEXTS["welcome_default"].format(names=names, group="社区福利1群", rules=TEXTS["rules_default"])
    assert welcome.payload["content"] == expected
    assert welcome.payload["mentions"] == ["wmAlice"]


def test_burst_of_joins_is_one_welcome_naming_everyone(bot: GroupBot) -> None:
    """Three join events within the window (1, then 2, then 1 member) become one message naming all four."""
    bot.join(CUSTOMER, ["zhangsan"])
    bot.clock.advance(seconds=20)
    bot.join(CUSTOMER, ["lisi", "wangwu"], join_scene=0)
    bot.clock.advance(seconds=39)
    bot.join(CUSTOMER, ["zhaoliu"])
    [welcome] = bot.outbox()
    assert welcome.payload["content"].startswith("欢迎 zhangsan、lisi、wangwu、zhaoliu 加入「社区福利1群」！")
    assert welcome.payload["mentions"] == ["zhangsan", "lisi", "wangwu", "zhaoliu"]
    # The window is counted from the first join: the message still leaves 60 s after it.
    assert welcome.next_attempt_at == bot.clock.now() + timedelta(seconds=1)
    assert [u for u, change in bot.changes(CUSTOMER) if change == "join"] == ["zhangsan", "lisi", "wangwu", "zhaoliu"]


def test_join_after_the_window_starts_a_new_welcome(bot: GroupBot) -> None:
    """A join 60 s or more after the first one gets its own welcome."""
    bot.join(CUSTOMER, ["zhangsan"])
    bot.clock.advance(seconds=60)
    bot.join(CUSTOMER, ["lisi"])
    first, second = bot.outbox()
    assert "zhangsan" in first.payload["content"] and "lisi" not in first.payload["content"]
    assert "lisi" in second.payload["content"] and "zhangsan" not in second.payload["content"]


def test_welcome_already_being_sent_is_not_rewritten(bot: GroupBot) -> None:
    """If a drainer claimed the welcome row, a join in the window starts a new message instead of editing it."""
    bot.join(CUSTOMER, ["wmA"])
    with bot.services.session_factory.begin() as session:
        claimed = outbox_rows.claim_due(
            session,
            worker="test",
            now=bot.clock.now() + timedelta(seconds=60),
            limit=10,
            reclaim_after=timedelta(minutes=5),
        )
        assert len(claimed) == 1
    bot.clock.advance(seconds=5)
    bot.join(CUSTOMER, ["wmB"])
    first, second = bot.outbox()
    assert first.status == "sending" and first.payload["mentions"] == ["wmA"]
    assert second.status == "pending" and second.payload["mentions"] == ["wmB"]


def test_a_wave_of_hundreds_is_one_message_naming_the_first_thirty(bot: GroupBot) -> None:
    """300 members in one event: 300 memberships, one welcome naming 30 of them and the total."""
    users = [f"user{i:04d}" for i in range(300)]
    assert bot.join(CUSTOMER, users) == 200
    assert sum(1 for _u, change in bot.changes(CUSTOMER) if change == "join") == 300
    [welcome] = bot.outbox()
    named = "、".join(users[:30])
    assert TEXTS["welcome_names_more"].format(names=named, count=300) in welcome.payload["content"]
    assert "user0030" not in welcome.payload["content"]
    assert welcome.payload["mentions"] == users[:30]


def test_customers_are_named_when_known_and_counted_otherwise(bot: GroupBot) -> None:
    """External userids are meaningless to people: known names are listed, the unnamed only counted; all are @."""
    with bot.services.session_factory.begin() as session:
        set_display_name(session, "wmA", "阿花", bot.clock.now())
        set_display_name(session, "wmB", "小白", bot.clock.now())
    bot.join(CUSTOMER, ["wmA", "wmC", "wmB", "wmD"])
    [welcome] = bot.outbox()
    assert welcome.payload["content"].startswith("欢迎 阿花、小白 等 4 位新朋友 加入「社区福利1群」！")
    assert welcome.payload["mentions"] == ["wmA", "wmC", "wmB", "wmD"]


def test_group_override_and_internal_group(bot: GroupBot) -> None:
    """A group's own welcome and rules replace the defaults; the row targets the group for its push transport."""
    bot.join(TEAM, ["zhangsan"])
    [welcome] = bot.outbox()
    assert welcome.target == TEAM and welcome.channel == "group"
    assert welcome.payload["content"] == "欢迎zhangsan来到团长群！\n团长群规：只聊团购。"


def test_unconfigured_group_is_discovered_but_not_welcomed(bot: GroupBot) -> None:
    """A chat the YAML does not list is recorded with its members (no guide); with no push, nothing is queued."""
    bot.join(STRANGER, ["wmX"])
    with bot.services.session_factory() as session:
        assert session.get(ChatGroup, STRANGER) is not None
        assert guide_of(session, "wmX", STRANGER) is None
    assert member(bot, STRANGER, "wmX")
    assert bot.outbox() == []


def test_retried_callback_is_counted_once(bot: GroupBot) -> None:
    """WeCom delivers the same join twice (new signature, same fields): one join, one name in the welcome."""
    plaintext = factories.make_member_joined(CUSTOMER, ["wmA"], create_time=bot.now_ts())
    assert bot.callback(plaintext) == 200
    assert bot.callback(plaintext) == 200
    assert bot.changes(CUSTOMER) == [("wmA", "join")]
    [welcome] = bot.outbox()
    assert welcome.payload["mentions"] == ["wmA"]


def test_join_for_someone_already_in_is_not_counted_again(bot: GroupBot) -> None:
    """A second, different add_member event naming a present member neither counts nor welcomes them again."""
    bot.join(CUSTOMER, ["wmA"])
    bot.clock.advance(seconds=120)
    bot.join(CUSTOMER, ["wmA"], join_scene=3)
    assert bot.changes(CUSTOMER) == [("wmA", "join")]
    assert len(bot.outbox()) == 1


def test_leave_then_rejoin_reopens_the_membership(bot: GroupBot) -> None:
    """Join, leave, join again: one membership row, open again, history join/leave/join, welcomed twice."""
    bot.join(CUSTOMER, ["wmA"])
    bot.clock.advance(hours=1)
    assert bot.leave(CUSTOMER, ["wmA"], quit_scene=1) == 200
    assert not member(bot, CUSTOMER, "wmA")
    left = bot.membership(CUSTOMER, "wmA")
    assert left is not None and left.quit_scene == 1 and left.left_at == bot.clock.now()
    bot.clock.advance(hours=1)
    bot.join(CUSTOMER, ["wmA"])
    assert member(bot, CUSTOMER, "wmA")
    again = bot.membership(CUSTOMER, "wmA")
    assert again is not None and again.id == left.id and again.left_at is None and again.joined_at == bot.clock.now()
    assert bot.changes(CUSTOMER) == [("wmA", "join"), ("wmA", "leave"), ("wmA", "join")]
    assert len(bot.outbox()) == 2


def test_leave_seen_before_its_join_leaves_them_out(bot: GroupBot) -> None:
    """Out of order: the leave (10:05) arrives before the join (10:00); they end up not a member, not welcomed."""
    join_time = bot.now_ts()
    bot.clock.advance(minutes=5)
    assert bot.leave(CUSTOMER, ["wmLate"]) == 200
    assert not member(bot, CUSTOMER, "wmLate")
    assert bot.callback(factories.make_member_joined(CUSTOMER, ["wmLate"], create_time=join_time)) == 200
    assert not member(bot, CUSTOMER, "wmLate")
    assert sorted(bot.changes(CUSTOMER)) == [("wmLate", "join"), ("wmLate", "leave")]
    assert bot.outbox() == []


def test_stale_leave_after_a_rejoin_is_ignored(bot: GroupBot) -> None:
    """A leave older than the current join (delivered late) does not close the membership."""
    old = bot.now_ts()
    bot.clock.advance(minutes=10)
    bot.join(CUSTOMER, ["wmA"])
    assert bot.callback(factories.make_member_left(CUSTOMER, ["wmA"], create_time=old)) == 200
    assert member(bot, CUSTOMER, "wmA")


def test_dismiss_marks_the_group_and_closes_memberships(bot: GroupBot) -> None:
    """A dismissed group is marked so and nobody is a member of it any more."""
    bot.join(CUSTOMER, ["wmA", "wmB"])
    bot.clock.advance(days=1)
    assert bot.callback(factories.make_chat_dismissed(CUSTOMER, create_time=bot.now_ts())) == 200
    with bot.services.session_factory() as session:
        group = session.get(ChatGroup, CUSTOMER)
        assert group is not None and group.dismissed_at == bot.clock.now()
    assert not member(bot, CUSTOMER, "wmA") and not member(bot, CUSTOMER, "wmB")


@pytest.mark.parametrize("detail", ["change_owner", "change_name", "change_notice"])
def test_other_updates_change_no_membership(bot: GroupBot, detail: str) -> None:
    """Owner, name and notice changes are answered and recorded as a known group, with no member change."""
    bot.join(CUSTOMER, ["wmA"])
    before = len(bot.outbox())
    assert bot.callback(factories.make_chat_updated(CUSTOMER, detail, create_time=bot.now_ts())) == 200
    assert bot.changes(CUSTOMER) == [("wmA", "join")] and member(bot, CUSTOMER, "wmA")
    assert len(bot.outbox()) == before


def test_create_records_the_group(bot: GroupBot) -> None:
    """A new customer group is known from its create event, with no members yet."""
    assert bot.callback(factories.make_chat_created(STRANGER, create_time=bot.now_ts())) == 200
    with bot.services.session_factory() as session:
        assert session.get(ChatGroup, STRANGER) is not None
    assert bot.changes(STRANGER) == [] and bot.outbox() == []


def test_unknown_update_detail_is_logged_and_ignored(bot: GroupBot, caplog: pytest.LogCaptureFixture) -> None:
    """An UpdateDetail WeCom may add later changes nothing and says so in the log."""
    plaintext = factories.external_chat_change(CUSTOMER, detail="add_robot", users=["wmA"], create_time=bot.now_ts())
    with caplog.at_level(logging.WARNING, logger="models.membership"):
        assert bot.callback(plaintext) == 200
    assert any("add_robot" in record.getMessage() for record in caplog.records)
    assert bot.changes(CUSTOMER) == [] and bot.outbox() == []


def test_welcome_disabled_still_records_joins(
    make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock
) -> None:
    """members.welcome.enabled: false (WeCom's own 入群欢迎语 in use): the join is recorded, nothing is queued."""
    bot = make_group_bot(make_services, tmp_path, clock, members={"welcome": {"enabled": False}})
    bot.join(CUSTOMER, ["wmA"])
    assert member(bot, CUSTOMER, "wmA") and bot.outbox() == []


def test_custom_window_and_no_mentions(
    make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock
) -> None:
    """window_seconds and mention come from the config."""
    bot = make_group_bot(make_services, tmp_path, clock, members={"welcome": {"window_seconds": 5, "mention": False}})
    bot.join(CUSTOMER, ["wmA"])
    bot.clock.advance(seconds=5)
    bot.join(CUSTOMER, ["wmB"])
    first, second = bot.outbox()
    assert first.next_attempt_at == second.next_attempt_at - timedelta(seconds=5)
    assert first.payload["mentions"] == [] and second.payload["mentions"] == []


def test_speaking_in_a_chat_makes_a_member_and_marks_activity(bot: GroupBot) -> None:
    """A user heard in a chat is a member of it (not counted as a join) and their last activity moves on."""
    bot.say("帮助", user="wangwu", chat=TEAM)
    assert member(bot, TEAM, "wangwu")
    assert bot.changes(TEAM) == []
    first = bot.membership(TEAM, "wangwu")
    bot.clock.advance(hours=3)
    bot.say("今天发货吗", user="wangwu", chat=TEAM)
    later = bot.membership(TEAM, "wangwu")
    assert first is not None and later is not None
    assert later.last_active_at == first.last_active_at + timedelta(hours=3)  # type: ignore[operator]
    with bot.services.session_factory() as session:
        assert guide_of(session, "wangwu", TEAM) == "guide01"


def test_member_who_left_and_speaks_again_is_back(bot: GroupBot) -> None:
    """A message from someone recorded as gone proves they are in the chat again."""
    bot.join(CUSTOMER, ["wmA"])
    bot.clock.advance(minutes=1)
    bot.leave(CUSTOMER, ["wmA"])
    bot.clock.advance(minutes=1)
    bot.say("在吗", user="wmA", chat=CUSTOMER)
    assert member(bot, CUSTOMER, "wmA")


def test_nothing_is_stored_for_a_forged_change(bot: GroupBot) -> None:
    """A change event signed with the wrong token is refused and records no membership."""
    signed = factories.app_sender().xml_post(factories.make_member_joined(CUSTOMER, ["wmA"]), token="wrong")
    resp = bot.client.post(f"/wecom/callback?{signed.query_string}", data=signed.body, content_type="text/xml")
    assert resp.status_code == 403
    assert not member(bot, CUSTOMER, "wmA")
    with Session(bot.services.engine) as session:
        assert session.get(ChatGroup, CUSTOMER) is None


def test_customer_groups_can_gather_welcomes_longer(
    make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock
) -> None:
    """customer_window_seconds applies to customer groups only; internal groups keep window_seconds."""
    bot = make_group_bot(make_services, tmp_path, clock, members={"welcome": {"customer_window_seconds": 600}})
    bot.join(CUSTOMER, ["wmA"])
    bot.join(TEAM, ["zhangsan"])
    bot.clock.advance(seconds=300)
    bot.join(CUSTOMER, ["wmB"])
    customer, team = bot.outbox()
    assert customer.target == CUSTOMER and customer.payload["mentions"] == ["wmA", "wmB"]
    assert customer.next_attempt_at - team.next_attempt_at == timedelta(seconds=540)


def test_aibot_message_and_event_make_members(bot: GroupBot) -> None:
    """Through the real /wecom/aibot endpoint: an @mention in a group makes the sender a member and counts activity;
    an event in a group (chatid given) does too, without counting a message."""
    sender = factories.aibot_sender()
    signed = sender.json_post(factories.aibot_text("今天有什么团", user="zhouqi", chat=TEAM))
    resp = bot.client.post(f"/wecom/aibot?{signed.query_string}", data=signed.body, content_type="application/json")
    assert resp.status_code == 200
    assert member(bot, TEAM, "zhouqi")
    event = {
        "msgid": "evt-0001",
        "aibotid": "aibot0001",
        "chatid": TEAM,
        "chattype": "group",
        "from": {"userid": "wuba"},
        "msgtype": "event",
        "event": {"eventtype": "enter_chat"},
    }
    signed = sender.json_post(event)
    resp = bot.client.post(f"/wecom/aibot?{signed.query_string}", data=signed.body, content_type="application/json")
    assert resp.status_code == 200
    assert member(bot, TEAM, "wuba")
    with bot.services.session_factory() as session:
        counts = activity_counts(
            session, chat_id=TEAM, since=bot.clock.now(), until=bot.clock.now() + timedelta(hours=1), limit=10
        )
    assert counts == [("zhouqi", 1)]


def test_guide_writing_to_the_app_is_known_but_in_no_group(bot: GroupBot) -> None:
    """A guide's 1:1 app message records them as a person and a 1:1 activity, and no group membership."""
    assert bot.callback(factories.app_text("成员 团长群", user="guide01")) == 200
    with bot.services.session_factory() as session:
        assert session.get(Person, "guide01") is not None
        assert session.scalars(select(Membership).where(Membership.user_id == "guide01")).all() == []


def test_any_event_in_a_chat_moves_last_activity(bot: GroupBot) -> None:
    """Not only text: an aibot event from a member in the chat moves their last_active_at on."""
    bot.say("早", user="zhouqi", chat=TEAM)
    bot.clock.advance(days=2)
    event = {
        "msgid": "evt-0002",
        "aibotid": "aibot0001",
        "chatid": TEAM,
        "chattype": "group",
        "from": {"userid": "zhouqi"},
        "msgtype": "event",
        "event": {"eventtype": "enter_chat"},
    }
    signed = factories.aibot_sender().json_post(event)
    resp = bot.client.post(f"/wecom/aibot?{signed.query_string}", data=signed.body, content_type="application/json")
    assert resp.status_code == 200
    row = bot.membership(TEAM, "zhouqi")
    assert row is not None and row.last_active_at == bot.clock.now()
