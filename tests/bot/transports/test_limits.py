"""WeCom's limits and quiet hours: a spent budget or a quiet hour makes messages wait, never drops or fails them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import FrozenClock
from bot.config.core import OutboxConfig
from bot.config.outbound import QuietHoursConfig
from bot.events import Event
from bot.outbox import queue_reply
from bot.replies import Reply
from bot.transports.drainer import drain_once
from bot.transports.limiter import days_in_month
from bot.transports.wecom import WecomTransport, build_wecom_transport, quiet_until
from models import OutboxMessage
from models import outbox as outbox_rows
from models.db import make_session_factory
from tests.bot.transports.conftest import wecom_config
from tests.fake_wecom import FakeWecom
from tests.parallel import run_together

SETTINGS = OutboxConfig(batch_size=100, max_attempts=3, retry_base_seconds=5, retry_max_seconds=60)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def add_many(factory: sessionmaker[Session], clock: FrozenClock, channel: str, target: str, count: int) -> list[int]:
    with factory.begin() as session:
        kind = "chat" if channel == "group" else "user"
        return [
            outbox_rows.add_message(
                session,
                channel=channel,
                target_kind=kind,
                target=target,
                payload={"msgtype": "text", "content": f"消息 {i}", "mentions": []},
                now=clock.now(),
            ).id
            for i in range(count)
        ]


def rows(factory: sessionmaker[Session]) -> list[OutboxMessage]:
    with factory() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_webhook_robot_sends_20_per_minute_and_the_rest_wait(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """25 messages for one robot: 20 go this minute, 5 wait for the next minute without spending an attempt."""
    clock.set(datetime(2026, 11, 22, 2, 0, 30, tzinfo=UTC))
    add_many(factory, clock, "group", "wr-internal", 25)
    transport = make_wecom()
    report = drain_once(factory, transport, SETTINGS, clock)
    assert (report.sent, report.deferred, report.failed, report.retried) == (20, 5, 0, 0)
    assert len(fake_wecom.calls_to("webhook/send")) == 20
    waiting = [r for r in rows(factory) if r.status == "pending"]
    assert len(waiting) == 5
    next_minute = datetime(2026, 11, 22, 2, 1, tzinfo=UTC)
    assert {r.next_attempt_at for r in waiting} == {next_minute}
    assert {r.attempts for r in waiting} == {0}

    clock.set(next_minute - timedelta(seconds=1))
    assert drain_once(factory, transport, SETTINGS, clock).claimed == 0
    clock.set(next_minute)
    assert drain_once(factory, transport, SETTINGS, clock).sent == 5
    contents = [b["text"]["content"] for b in fake_wecom.bodies("webhook/send") if b]
    assert sorted(contents) == sorted(f"消息 {i}" for i in range(25))


def test_limiter_holds_across_a_restart(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """A new process (fresh transport and limiter, same database) still sees the 15 sends of this minute."""
    add_many(factory, clock, "group", "wr-internal", 15)
    assert drain_once(factory, make_wecom(), SETTINGS, clock).sent == 15

    restarted = make_wecom()
    add_many(factory, clock, "group", "wr-internal", 10)
    report = drain_once(factory, restarted, SETTINGS, clock)
    assert (report.sent, report.deferred) == (5, 5)
    assert len(fake_wecom.calls_to("webhook/send")) == 20


def test_app_message_limits_are_per_recipient(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """31 app messages to one guide: 30 go this minute; another guide's message is not held up by them."""
    add_many(factory, clock, "app_message", "guide01", 31)
    add_many(factory, clock, "app_message", "guide02", 1)
    report = drain_once(factory, make_wecom(), SETTINGS, clock)
    assert (report.sent, report.deferred) == (31, 1)
    recipients = [b["touser"] for b in fake_wecom.bodies("message/send") if b]
    assert recipients.count("guide01") == 30 and recipients.count("guide02") == 1


def test_app_message_hourly_budget(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """When the hourly budget is spent the message waits for the next hour even though the minute has room."""
    clock.set(datetime(2026, 11, 22, 2, 10, tzinfo=UTC))
    transport = make_wecom(limits={"app_message_per_minute": 30, "app_message_per_hour": 3})
    add_many(factory, clock, "app_message", "guide01", 4)
    assert drain_once(factory, transport, SETTINGS, clock).sent == 3
    (waiting,) = [r for r in rows(factory) if r.status == "pending"]
    assert waiting.next_attempt_at == datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
    # No partial spend: the refused message took nothing from the minute budget either.
    clock.set(datetime(2026, 11, 22, 3, 0, tzinfo=UTC))
    assert drain_once(factory, transport, SETTINGS, clock).sent == 1


def test_customer_task_monthly_cap_waits_for_next_month(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """Past the monthly cap for a customer group, the task waits for the 1st of next month (configured zone)."""
    transport = make_wecom(limits={"customer_task_per_month": 2})
    add_many(factory, clock, "group", "wr-customer", 3)
    report = drain_once(factory, transport, SETTINGS, clock)
    assert (report.sent, report.deferred) == (2, 1)
    assert len(fake_wecom.calls_to("externalcontact/add_msg_template")) == 2
    (waiting,) = [r for r in rows(factory) if r.status == "pending" and r.channel == "group"]
    assert waiting.next_attempt_at == datetime(2026, 12, 1, tzinfo=SHANGHAI).astimezone(UTC)


def test_default_task_cap_is_the_days_in_the_month() -> None:
    """Without an explicit cap, a customer group gets as many tasks as the month has days, in local time."""
    assert days_in_month(datetime(2026, 2, 10, tzinfo=UTC), SHANGHAI) == 28
    # 16:30 UTC on 31 Jan is already 1 Feb in Shanghai.
    assert days_in_month(datetime(2026, 1, 31, 16, 30, tzinfo=UTC), SHANGHAI) == 28
    assert days_in_month(datetime(2026, 11, 22, tzinfo=UTC), SHANGHAI) == 30


def test_quiet_hours_hold_pushes_but_not_answers(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock
) -> None:
    """At 23:00 a push to a group waits until 08:00; an answer to the member who asked goes at once."""
    clock.set(datetime(2026, 11, 22, 23, 0, tzinfo=SHANGHAI))
    config = wecom_config(fake_wecom, quiet_hours={"enabled": True, "start": "22:00", "end": "08:00"})
    transport = build_wecom_transport(lambda: config, factory, clock)
    event = Event(kind="text", source="app", user_id="guide01", chat_id=None, at=clock.now(), text="积分", msg_id="q1")
    with factory.begin() as session:
        answer = queue_reply(session, Reply("你的积分是 10"), clock.now(), origin=event)
        push = queue_reply(session, Reply("晚安公告", to_chat="wr-internal"), clock.now(), origin=event)
        assert answer is not None and push is not None
        answer_id, push_id = answer.id, push.id

    report = drain_once(factory, transport, SETTINGS, clock)
    assert (report.sent, report.deferred) == (1, 1)
    assert [b["text"]["content"] for b in fake_wecom.bodies("message/send") if b] == ["你的积分是 10"]
    assert fake_wecom.calls_to("webhook/send") == []
    by_id = {r.id: r for r in rows(factory)}
    assert by_id[answer_id].status == "sent"
    morning = datetime(2026, 11, 23, 8, 0, tzinfo=SHANGHAI)
    assert (by_id[push_id].status, by_id[push_id].next_attempt_at, by_id[push_id].attempts) == ("pending", morning, 0)
    assert by_id[push_id].last_error is not None and "quiet hours" in by_id[push_id].last_error

    clock.set(morning)
    assert drain_once(factory, transport, SETTINGS, clock).sent == 1
    assert len(fake_wecom.calls_to("webhook/send")) == 1


def test_rows_without_a_purpose_respect_quiet_hours(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock
) -> None:
    """A row queued directly (no purpose, e.g. a coalesced welcome) is treated as a push and waits."""
    clock.set(datetime(2026, 11, 22, 7, 59, tzinfo=SHANGHAI))
    config = wecom_config(fake_wecom, quiet_hours={"enabled": True, "start": "22:00", "end": "08:00"})
    transport = build_wecom_transport(lambda: config, factory, clock)
    add_many(factory, clock, "group", "wr-internal", 1)
    assert drain_once(factory, transport, SETTINGS, clock).deferred == 1
    clock.set(datetime(2026, 11, 22, 8, 0, tzinfo=SHANGHAI))
    assert drain_once(factory, transport, SETTINGS, clock).sent == 1


@pytest.mark.postgres_only
def test_parallel_drainers_do_not_overspend_a_budget_on_postgresql(
    pg_engine: Engine, fake_wecom: FakeWecom, clock: FrozenClock
) -> None:
    """Four drainers on their own connections race over 100 rows for one robot: exactly 20 are sent this minute."""
    factory = make_session_factory(pg_engine)
    add_many(factory, clock, "group", "wr-internal", 100)
    config = wecom_config(fake_wecom)
    settings = SETTINGS.model_copy(update={"batch_size": 5})

    def run(index: int) -> None:
        transport = build_wecom_transport(lambda: config, make_session_factory(pg_engine), clock)
        for _ in range(100):
            if drain_once(factory, transport, settings, clock, worker=f"drainer-{index}").claimed == 0:
                break

    run_together(4, run, timeout=60)
    assert len(fake_wecom.calls_to("webhook/send")) == 20
    statuses = [r.status for r in rows(factory)]
    assert statuses.count("sent") == 20 and statuses.count("pending") == 80


def test_spent_budget_moves_the_whole_backlog(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """Once a robot's minute is spent, its other queued rows wait too: the next pass claims none of them."""
    clock.set(datetime(2026, 11, 22, 2, 0, 10, tzinfo=UTC))
    add_many(factory, clock, "group", "wr-internal", 60)
    add_many(factory, clock, "app_message", "guide01", 1)
    transport = make_wecom()
    settings = SETTINGS.model_copy(update={"batch_size": 21})
    first = drain_once(factory, transport, settings, clock)
    assert (first.sent, first.deferred) == (20, 1)
    second = drain_once(factory, transport, settings, clock)
    # Only the guide's app message is still due: the 39 unclaimed robot rows were moved with the first refusal.
    assert (second.claimed, second.sent) == (1, 1)
    next_minute = datetime(2026, 11, 22, 2, 1, tzinfo=UTC)
    waiting = [r for r in rows(factory) if r.status == "pending"]
    assert len(waiting) == 40 and {(r.next_attempt_at, r.attempts) for r in waiting} == {(next_minute, 0)}
    assert len(fake_wecom.calls_to("webhook/send")) == 20


@pytest.mark.parametrize(
    ("local", "until"),
    [
        ((21, 59), None),
        ((22, 0), (23, 8, 0)),
        ((3, 30), (22, 8, 0)),
        ((8, 0), None),
    ],
)
def test_quiet_until_spans_midnight(local: tuple[int, int], until: tuple[int, int, int] | None) -> None:
    """Quiet hours 22:00–08:00 include 22:00 and 03:30 (ending at the next 08:00) but not 21:59 or 08:00."""
    now = datetime(2026, 11, 22, *local, tzinfo=SHANGHAI)
    expected = datetime(2026, 11, until[0], until[1], until[2], tzinfo=SHANGHAI) if until else None
    assert quiet_until(QuietHoursConfig(), now, SHANGHAI) == expected
