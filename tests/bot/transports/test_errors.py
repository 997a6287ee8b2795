"""WeCom saying no: tokens refreshed once, busy answers retried with backoff, configuration errors failed with hints."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import FrozenClock
from bot.config.core import OutboxConfig
from bot.transports.drainer import drain_once
from bot.transports.wecom import WecomTransport
from bot.wecom.api import WecomApi
from models.db import make_session_factory
from tests.bot.transports.conftest import outbox_row, queue_message, wecom_config
from tests.fake_wecom import CORP_ID, SECRET, FakeWecom
from tests.parallel import run_together

SETTINGS = OutboxConfig(batch_size=50, max_attempts=3, retry_base_seconds=5, retry_max_seconds=60)


def test_token_expiring_mid_run_is_refreshed_once_and_the_send_retried(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """After WeCom expires the token, the next send fetches one new token, retries once, and is delivered."""
    transport = make_wecom()
    first = queue_message(factory, clock)
    assert drain_once(factory, transport, SETTINGS, clock).sent == 1
    fake_wecom.expire_tokens()
    second = queue_message(factory, clock)
    report = drain_once(factory, transport, SETTINGS, clock)

    assert (report.sent, report.retried, report.failed) == (1, 0, 0)
    assert [c.query["access_token"] for c in fake_wecom.calls_to("message/send")] == ["token-1", "token-1", "token-3"]
    assert len(fake_wecom.calls_to("gettoken")) == 2
    assert outbox_row(factory, first).status == outbox_row(factory, second).status == "sent"
    assert outbox_row(factory, second).attempts == 1


def test_token_is_shared_through_the_database(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """A second process (a new transport on the same database) reuses the stored token instead of fetching one."""
    queue_message(factory, clock)
    drain_once(factory, make_wecom(), SETTINGS, clock)
    queue_message(factory, clock)
    drain_once(factory, make_wecom(), SETTINGS, clock)
    assert len(fake_wecom.calls_to("gettoken")) == 1
    assert [c.query["access_token"] for c in fake_wecom.calls_to("message/send")] == ["token-1", "token-1"]


def test_42001_forever_is_bounded_then_failed(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """A server answering 42001 forever gets two sends per attempt, max_attempts attempts, then the row fails."""
    fake_wecom.always("message/send", errcode=42001)
    transport = make_wecom()
    row_id = queue_message(factory, clock)
    for _ in range(10):  # more passes than attempts: proves it stops by itself
        drain_once(factory, transport, SETTINGS, clock)
        clock.advance(seconds=SETTINGS.retry_max_seconds)

    failed = outbox_row(factory, row_id)
    assert (failed.status, failed.attempts) == ("failed", SETTINGS.max_attempts)
    assert failed.last_error is not None
    assert failed.last_error.startswith(f"gave up after {SETTINGS.max_attempts} attempts")
    assert "42001" in failed.last_error
    assert len(fake_wecom.calls_to("message/send")) == 2 * SETTINGS.max_attempts
    assert len(fake_wecom.calls_to("gettoken")) == SETTINGS.max_attempts + 1


def test_45009_waits_out_the_blocked_window(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """45009 puts the row back for at least 60 s, not sooner, and it is delivered after that."""
    fake_wecom.fail_next("message/send", errcode=45009)
    transport = make_wecom()
    row_id = queue_message(factory, clock)
    start = clock.now()
    assert drain_once(factory, transport, SETTINGS, clock).retried == 1
    waiting = outbox_row(factory, row_id)
    assert waiting.status == "pending" and waiting.next_attempt_at >= start + timedelta(seconds=60)
    assert waiting.last_error is not None and "45009" in waiting.last_error

    clock.set(start + timedelta(seconds=59))
    assert drain_once(factory, transport, SETTINGS, clock).claimed == 0
    clock.set(waiting.next_attempt_at)
    assert drain_once(factory, transport, SETTINGS, clock).sent == 1
    assert len(fake_wecom.calls_to("message/send")) == 2


@pytest.mark.parametrize(
    ("failure", "error_part"),
    [
        ({"errcode": -1}, "errcode -1"),
        ({"http_status": 502}, "HTTP 502"),
        ({"delay": 1.5}, "Timeout"),
    ],
    ids=["system-busy", "http-5xx", "timeout"],
)
def test_transient_failures_retry_with_backoff(
    fake_wecom: FakeWecom,
    factory: sessionmaker[Session],
    clock: FrozenClock,
    make_wecom: Callable[..., WecomTransport],
    failure: dict[str, float],
    error_part: str,
) -> None:
    """-1, HTTP 5xx and timeouts are retried later (not at once) and then delivered."""
    fake_wecom.fail_next("message/send", **failure)  # type: ignore[arg-type]
    transport = make_wecom(timeout_seconds=0.5)
    row_id = queue_message(factory, clock)
    assert drain_once(factory, transport, SETTINGS, clock).retried == 1
    waiting = outbox_row(factory, row_id)
    assert waiting.status == "pending" and waiting.next_attempt_at > clock.now()
    assert waiting.last_error is not None and error_part in waiting.last_error
    clock.set(waiting.next_attempt_at)
    assert drain_once(factory, transport, SETTINGS, clock).sent == 1


@pytest.mark.parametrize(
    ("errcode", "hint"),
    [
        (60020, "企业可信IP"),
        (48002, "API permission"),
        (60011, "可见范围"),
        (40050, "no longer exists"),
        (49008, "no longer exists"),
    ],
)
def test_configuration_errors_fail_at_once_with_their_hint(
    fake_wecom: FakeWecom,
    factory: sessionmaker[Session],
    clock: FrozenClock,
    make_wecom: Callable[..., WecomTransport],
    errcode: int,
    hint: str,
) -> None:
    """Errors only an operator can fix park the row on the first attempt with a sentence saying what to do."""
    fake_wecom.always("appchat/send", errcode=errcode)
    transport = make_wecom()
    row_id = queue_message(factory, clock, "group", "wr-appchat")
    report = drain_once(factory, transport, SETTINGS, clock)
    assert (report.failed, report.retried) == (1, 0)
    failed = outbox_row(factory, row_id)
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert failed.last_error is not None
    assert f"errcode {errcode}" in failed.last_error and hint in failed.last_error
    clock.advance(days=1)
    assert drain_once(factory, transport, SETTINGS, clock).claimed == 0
    assert len(fake_wecom.calls_to("appchat/send")) == 1


def test_invalid_webhook_key_fails_with_hint(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """A robot key WeCom does not know (93000) fails at once and points at groups[].webhook_key."""
    fake_wecom.webhook_keys.clear()
    row_id = queue_message(factory, clock, "group", "wr-internal")
    assert drain_once(factory, make_wecom(), SETTINGS, clock).failed == 1
    failed = outbox_row(factory, row_id)
    assert failed.last_error is not None and "93000" in failed.last_error and "webhook_key" in failed.last_error


@pytest.mark.postgres_only
def test_concurrent_processes_fetch_the_token_once_on_postgresql(
    pg_engine: Engine, fake_wecom: FakeWecom, clock: FrozenClock
) -> None:
    """Eight processes needing a token at once (each its own connection) call gettoken once; all get that token."""
    fake_wecom.fail_next("gettoken", delay=0.3)  # a slow gettoken widens the race window
    threads_n = 8

    def run(_: int) -> str:
        api = WecomApi(
            make_session_factory(pg_engine),
            clock,
            corp_id=CORP_ID,
            secret=SECRET,
            agent_id="1",
            api_base=fake_wecom.base_url,
            timeout=5,
        )
        return api.access_token()

    tokens = run_together(threads_n, run, timeout=30)
    assert tokens == ["token-1"] * threads_n
    assert len(fake_wecom.calls_to("gettoken")) == 1


def test_wrong_secret_fails_at_once_with_hint(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """gettoken refusing the credentials fails the row at once, pointing at wecom.secret; nothing is sent."""
    config = wecom_config(fake_wecom)
    config = config.model_copy(update={"wecom": config.wecom.model_copy(update={"secret": "wrong"})})
    row_id = queue_message(factory, clock)
    assert drain_once(factory, make_wecom(config), SETTINGS, clock).failed == 1
    failed = outbox_row(factory, row_id)
    assert failed.last_error is not None and "wecom.secret" in failed.last_error
    assert fake_wecom.calls_to("message/send") == []
