"""WeCom's edges: byte limits, one task per guide, cancel before retry, reminders, cap modes, error meanings,
owner_filter and paging; all against the fake WeCom over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import FrozenClock
from bot.config.core import Config, OutboxConfig
from bot.transports import sizes
from bot.transports.customer_task import poll_customer_tasks
from bot.transports.drainer import drain_once
from bot.transports.wecom import WecomTransport, build_wecom_transport
from handlers.members.group_sync import list_chats
from tests.bot.transports.conftest import GROUPS, outbox_row, queue_message, wecom_config
from tests.factories import config_from
from tests.fake_wecom import FakeWecom

SETTINGS = OutboxConfig(batch_size=50, max_attempts=3, retry_base_seconds=5, retry_max_seconds=60)
TASKS = "externalcontact/add_msg_template"


def roster(count: int = 300) -> str:
    lines = ["【接龙】周六草莓团 名单："]
    lines += [f"{n}. 团员{n:03d} 草莓×{n % 3 + 1} 3号楼{n % 20 + 1}单元" for n in range(1, count + 1)]
    return "\n".join(lines)


# --- message sizes -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [sizes.WEBHOOK_TEXT, sizes.WEBHOOK_MARKDOWN, sizes.AIBOT_MARKDOWN, 64])
def test_split_keeps_every_line_in_order_under_the_limit(limit: int) -> None:
    text = roster()
    parts = sizes.split_parts(text, limit)
    assert all(sizes.size(p) <= limit for p in parts)
    assert "\n".join(parts) == text


def test_a_line_longer_than_the_limit_is_broken_on_a_character() -> None:
    text = "团" * 1000  # 3000 bytes, one line
    parts = sizes.split_parts(text, 2048)
    assert [sizes.size(p) for p in parts] == [2046, 954] and "".join(parts) == text


def test_cut_ends_on_a_whole_line_with_the_visible_marker() -> None:
    cut = sizes.cut(roster(), 4000, "…（未完）")
    assert sizes.size(cut) <= 4000 and cut.endswith("…（未完）") and roster().startswith(cut.removesuffix("…（未完）"))


def test_a_300_member_roster_arrives_whole_and_in_order_through_the_robot(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """The fake refuses webhook text over 2048 bytes; the roster goes out as several messages, all of it, in order."""
    text = roster()
    row = queue_message(
        factory, clock, "group", "wr-internal", {"msgtype": "text", "content": text, "mentions": ["zhangsan"]}
    )
    assert drain_once(factory, make_wecom(), SETTINGS, clock).sent == 1
    bodies = fake_wecom.bodies("webhook/send")
    assert len(bodies) > 1 and all(b is not None for b in bodies)
    contents = [b["text"]["content"] for b in bodies if b]
    assert all(sizes.size(c) <= 2048 for c in contents) and "\n".join(contents) == text
    assert bodies[0] and bodies[0]["text"]["mentioned_list"] == ["zhangsan"]
    assert all(b and "mentioned_list" not in b["text"] for b in bodies[1:])
    assert outbox_row(factory, row).status == "sent"


def test_a_split_message_resumes_after_the_robot_budget_without_repeating_parts(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """With 2 messages a minute for the robot, the roster waits between parts and no part is sent twice."""
    config = wecom_config(fake_wecom, limits={"webhook_per_minute": 2})
    transport = make_wecom(config)
    text = roster()
    expected = sizes.split_parts(text, sizes.WEBHOOK_TEXT)
    row = queue_message(factory, clock, "group", "wr-internal", {"msgtype": "text", "content": text, "mentions": []})
    for _ in range(len(expected)):
        drain_once(factory, transport, SETTINGS, clock)
        clock.advance(minutes=1)
    contents = [b["text"]["content"] for b in fake_wecom.bodies("webhook/send") if b]
    assert contents == expected and outbox_row(factory, row).status == "sent"


def test_app_message_and_appchat_are_split_at_2048_bytes(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """message/send cuts text over 2048 bytes silently and appchat refuses it: both get parts that fit."""
    text = roster(150)
    queue_message(factory, clock, "app_message", "guide01", {"msgtype": "text", "content": text, "mentions": []})
    queue_message(factory, clock, "group", "wr-appchat", {"msgtype": "text", "content": text, "mentions": []})
    assert drain_once(factory, make_wecom(), SETTINGS, clock).sent == 2
    for endpoint in ("message/send", "appchat/send"):
        contents = [b["text"]["content"] for b in fake_wecom.bodies(endpoint) if b]
        assert len(contents) > 1 and all(sizes.size(c) <= 2048 for c in contents) and "\n".join(contents) == text


# --- customer tasks --------------------------------------------------------------------------------------------


def guide_config(fake: FakeWecom, groups: int = 20, **outbound: Any) -> Config:
    """guide01 owns `groups` customer groups (wr-c00 …)."""
    data = wecom_config(fake, **outbound).model_dump(mode="json", exclude={"texts"})
    data["groups"] = [g for g in GROUPS if g["kind" if "kind" in g else "name"] != "customer"] + [
        {
            "chat_id": f"wr-c{n:02d}",
            "name": f"福利{n}群",
            "kind": "customer",
            "guide": "guide01",
            "push": "customer_task",
            # Straight to a task: these tests are about the task itself, not the guide's sidebar before it.
            "delivery": "task",
        }
        for n in range(groups)
    ]
    for key in [k for k in data if k not in ("timezone", "wecom", "outbox", "roles", "outbound", "groups")]:
        data.pop(key)
    return config_from(data)


def post_to_all(
    factory: sessionmaker[Session], clock: FrozenClock, config: Config, text: str = "本周日历：周六草莓团"
) -> list[int]:
    payload = {"msgtype": "text", "content": text, "mentions": [], "purpose": "push"}
    return [queue_message(factory, clock, "group", g.chat_id, payload) for g in config.groups if g.kind == "customer"]


def test_one_post_to_a_guides_20_groups_is_one_task_and_one_confirmation(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    config = guide_config(fake_wecom)
    rows = post_to_all(factory, clock, config)
    report = drain_once(factory, make_wecom(config), SETTINGS, clock)
    assert report.sent == 20 and report.failed == 0
    (body,) = fake_wecom.bodies(TASKS)
    assert body is not None and body["chat_id_list"] == [f"wr-c{n:02d}" for n in range(20)]
    assert all(outbox_row(factory, r).status == "sent" for r in rows)
    drain_once(factory, make_wecom(config), SETTINGS, clock)
    confirms = [b for b in fake_wecom.bodies("message/send") if b and b["touser"] == "guide01"]
    assert len(confirms) == 1 and "福利0群、福利1群" in confirms[0]["text"]["content"]

    # Each group settles on its own: 19 sent, one WeCom says already got a mass message today.
    fake_wecom.task_status["task-2"] = 1
    fake_wecom.chat_status[("task-2", "wr-c07")] = 3
    clock.advance(seconds=config.outbound.task_poll_seconds)
    poll_customer_tasks(factory, make_wecom(config).api, lambda: config, clock.now())
    statuses = {outbox_row(factory, r).target: outbox_row(factory, r).status for r in rows}
    assert statuses.pop("wr-c07") == "failed" and set(statuses.values()) == {"sent"}


def test_expired_task_is_cancelled_before_its_unit_comes_back_and_before_a_new_task(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """Cap 1 a day: the unconfirmed task is cancelled in WeCom first; only then the rows fail and the unit returns,
    so the retried row makes a new task the same day. A cancel WeCom refuses keeps the unit spent."""
    config = guide_config(fake_wecom, groups=2, limits={"customer_task_cap": "per_day"}, task_reminders=0)
    rows = post_to_all(factory, clock, config)
    drain_once(factory, make_wecom(config), SETTINGS, clock)
    api = make_wecom(config).api

    clock.advance(hours=config.outbound.task_expire_hours)
    fake_wecom.fail_next("externalcontact/cancel_groupmsg_send", errcode=-1)
    report = poll_customer_tasks(factory, api, lambda: config, clock.now())
    assert report.expired == 0 and all(outbox_row(factory, r).status == "sent" for r in rows)

    clock.advance(seconds=config.outbound.task_poll_seconds)
    report = poll_customer_tasks(factory, api, lambda: config, clock.now())
    assert (report.cancelled, report.expired) == (1, 1) and fake_wecom.cancelled == {"task-2"}
    assert all(outbox_row(factory, r).status == "failed" for r in rows)
    cancel_at = [c.at for c in fake_wecom.calls if c.endpoint == "externalcontact/cancel_groupmsg_send"][-1]

    from models import outbox as outbox_rows

    with factory.begin() as session:
        outbox_rows.requeue_failed(session, clock.now())
    drain_once(factory, make_wecom(config), SETTINGS, clock)
    tasks = fake_wecom.calls_to(TASKS)
    assert len(tasks) == 2 and tasks[1].at > cancel_at  # the new task only after the cancel
    assert all(outbox_row(factory, r).status == "sent" for r in rows)  # the day's unit was given back


def test_the_guide_is_reminded_before_expiry_at_most_as_configured(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    config = guide_config(fake_wecom, groups=1, task_reminders=2, task_remind_every_hours=4, task_poll_seconds=3600)
    post_to_all(factory, clock, config)
    drain_once(factory, make_wecom(config), SETTINGS, clock)
    api = make_wecom(config).api
    reminded = 0
    for _ in range(23):
        clock.advance(hours=1)
        reminded += poll_customer_tasks(factory, api, lambda: config, clock.now()).reminded
    assert reminded == 2 and fake_wecom.reminders == {"task-2": 2}
    assert fake_wecom.bodies("externalcontact/remind_groupmsg_send") == [{"msgid": "task-2"}] * 2


@pytest.mark.parametrize(
    ("cap", "start", "step", "allowed"),
    [
        ("per_day", datetime(2026, 11, 22, 15, 0, tzinfo=UTC), timedelta(hours=1), 1),  # 23:00 Shanghai
        ("per_week", datetime(2026, 11, 29, 12, 0, tzinfo=UTC), timedelta(hours=12), 7),  # Sunday 20:00
        ("per_month", datetime(2026, 11, 30, 12, 0, tzinfo=UTC), timedelta(hours=12), 30),  # November's last day
    ],
)
def test_cap_follows_the_corps_setting_across_its_boundary(
    cap: str,
    start: datetime,
    step: timedelta,
    allowed: int,
    fake_wecom: FakeWecom,
    factory: sessionmaker[Session],
    make_wecom: Callable[..., WecomTransport],
) -> None:
    """The cap is spent within its window (Shanghai days, Monday weeks, calendar months) and opens after it."""
    clock = FrozenClock(start)
    config = guide_config(fake_wecom, groups=1, limits={"customer_task_cap": cap})
    transport = build_wecom_transport(lambda: config, factory, clock)
    payload = {"msgtype": "text", "content": "x", "mentions": [], "purpose": "push"}
    for n in range(allowed + 1):
        queue_message(factory, clock, "group", "wr-c00", {**payload, "content": f"第{n}条"})
        drain_once(factory, transport, SETTINGS, clock)
    assert len(fake_wecom.calls_to(TASKS)) == allowed  # the last one waits for the next window
    clock.set(start + step)
    drain_once(factory, transport, SETTINGS, clock)
    assert len(fake_wecom.calls_to(TASKS)) == allowed + 1


# --- error meanings ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("errcode", "words"),
    [
        (93000, "webhook key is wrong"),
        (93001, "robot was removed"),
        (93006, "robot was removed"),
        (93008, "robot was removed"),
        (93017, "refused the content"),
        (93018, "refused the content"),
    ],
)
def test_each_robot_errcode_fails_at_once_with_its_hint(
    errcode: int,
    words: str,
    fake_wecom: FakeWecom,
    factory: sessionmaker[Session],
    clock: FrozenClock,
    make_wecom: Callable[..., WecomTransport],
) -> None:
    fake_wecom.fail_next("webhook/send", errcode=errcode)
    row = queue_message(factory, clock, "group", "wr-internal", {"msgtype": "text", "content": "hi", "mentions": []})
    assert drain_once(factory, make_wecom(), SETTINGS, clock).failed == 1
    error = outbox_row(factory, row).last_error or ""
    assert f"errcode {errcode}" in error and words in error


def test_hourly_45009_waits_the_hour(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """45009 for an hourly budget blocks until the hour is over: the row waits an hour, a per-minute one a minute."""
    fake_wecom.fail_next("appchat/send", errcode=45009, errmsg="api freq out of limit, hour limit reached")
    hourly = queue_message(factory, clock, "group", "wr-appchat", {"msgtype": "text", "content": "a", "mentions": []})
    drain_once(factory, make_wecom(), SETTINGS, clock)
    waited = outbox_row(factory, hourly)
    assert waited.status == "pending" and waited.next_attempt_at - clock.now() >= timedelta(hours=1)
    assert "blocked hour" in (waited.last_error or "")
    fake_wecom.fail_next("message/send", errcode=45009, errmsg="api freq out of limit")
    minute = queue_message(factory, clock)
    drain_once(factory, make_wecom(), SETTINGS, clock)
    waited = outbox_row(factory, minute)
    assert timedelta(seconds=60) <= waited.next_attempt_at - clock.now() < timedelta(hours=1)


def test_an_unknown_errcode_is_retried_then_fails_showing_wecoms_code_and_words(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    fake_wecom.always("appchat/send", errcode=770001)
    row = queue_message(factory, clock, "group", "wr-appchat", {"msgtype": "text", "content": "hi", "mentions": []})
    transport = make_wecom()
    for _ in range(SETTINGS.max_attempts):
        drain_once(factory, transport, SETTINGS, clock)
        clock.advance(minutes=5)
    failed = outbox_row(factory, row)
    assert failed.status == "failed" and failed.attempts == SETTINGS.max_attempts
    assert "errcode 770001: scripted error 770001" in (failed.last_error or "")


def test_appchat_budget_counts_recipients(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """A 30-member appchat group spends 30 of a 50-a-minute budget: the second message waits for the next minute."""
    from models import membership

    with factory.begin() as session:
        membership.join_many(
            session,
            chat_id="wr-appchat",
            user_ids=[f"u{n}" for n in range(30)],
            at=clock.now(),
            guide=None,
            join_scene=None,
        )
    transport = make_wecom(limits={"appchat_per_minute": 50})
    for _ in range(2):
        queue_message(factory, clock, "group", "wr-appchat", {"msgtype": "text", "content": "hi", "mentions": []})
    report = drain_once(factory, transport, SETTINGS, clock)
    assert (report.sent, report.deferred) == (1, 1)


def test_group_listing_filters_by_the_guides_and_pages(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """2,500 groups, more than 1,000 visible members: unfiltered listing is 81017; by owner it pages through all."""
    fake_wecom.visible_members = 5000
    for n in range(2500):
        chat = f"wr-g{n:04d}"
        fake_wecom.groupchats[chat] = {"chat_id": chat}
        fake_wecom.groupchat_owners[chat] = "guide01" if n % 2 else "guide02"
    fake_wecom.groupchat_owners["wr-g0000"] = "someone-else"
    api = make_wecom().api
    from bot.transports.base import DeliveryError

    with pytest.raises(DeliveryError, match="81017.*owner_filter"):
        list_chats(api)
    found = list_chats(api, ["guide01", "guide02"])
    assert len(found) == 2499 and "wr-g0000" not in found
    pages = fake_wecom.bodies("externalcontact/groupchat/list")[1:]
    assert {p["owner_filter"]["userid_list"] == ["guide01", "guide02"] for p in pages if p} == {True}
    assert [p["cursor"] for p in pages if p] == ["", "1000", "2000"]
