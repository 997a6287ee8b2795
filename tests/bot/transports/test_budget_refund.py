"""A message WeCom refused does not count against its limit; one that may have arrived does."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import FrozenClock
from bot.config.core import OutboxConfig
from bot.transports.drainer import drain_once
from bot.transports.wecom import WecomTransport
from models import OutboxMessage
from tests.bot.transports.conftest import queue_message
from tests.fake_wecom import FakeWecom

SETTINGS = OutboxConfig(batch_size=10, max_attempts=3, retry_base_seconds=5, retry_max_seconds=60)
TASKS = "externalcontact/add_msg_template"


def add(factory: sessionmaker[Session], clock: FrozenClock, content: str) -> int:
    return queue_message(
        factory, clock, "group", "wr-customer", {"msgtype": "text", "content": content, "mentions": []}
    )


def status(factory: sessionmaker[Session], row_id: int) -> tuple[str, str | None]:
    with factory() as session:
        row = session.scalars(select(OutboxMessage).where(OutboxMessage.id == row_id)).one()
        return row.status, row.last_error


def test_failed_customer_task_does_not_use_up_the_monthly_cap(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """With a cap of one task a month, a task WeCom refuses (no permission) leaves the cap for the next one."""
    transport = make_wecom(limits={"customer_task_per_month": 1})
    fake_wecom.fail_next(TASKS, errcode=48002)
    refused = add(factory, clock, "第一条")
    assert drain_once(factory, transport, SETTINGS, clock).failed == 1
    assert status(factory, refused)[0] == "failed"

    second = add(factory, clock, "第二条")
    assert drain_once(factory, transport, SETTINGS, clock).sent == 1
    assert status(factory, second) == ("sent", None)
    assert len(fake_wecom.calls_to(TASKS)) == 2


def test_retried_customer_task_is_counted_once(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """A task that met a 502 and was retried spends one unit of the cap in all, not one per attempt."""
    transport = make_wecom(limits={"customer_task_per_month": 2})
    fake_wecom.fail_next(TASKS, http_status=502)
    first = add(factory, clock, "第一条")
    assert drain_once(factory, transport, SETTINGS, clock).retried == 1
    clock.advance(seconds=SETTINGS.retry_max_seconds)
    assert drain_once(factory, transport, SETTINGS, clock).sent == 1
    assert status(factory, first)[0] == "sent"

    second = add(factory, clock, "第二条")
    drain_once(factory, transport, SETTINGS, clock)  # the second task, and the guide's nudge for the first
    assert status(factory, second)[0] == "sent"
    assert len(fake_wecom.calls_to(TASKS)) == 3


def test_timed_out_task_keeps_its_unit(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """After a timeout WeCom may have created the task, so the unit stays spent and the next task waits."""
    transport = make_wecom(limits={"customer_task_per_month": 1}, timeout_seconds=0.2)
    transport.api.access_token()  # fetch the token first, so only add_msg_template is slow
    fake_wecom.fail_next(TASKS, delay=1.0)
    first = add(factory, clock, "第一条")
    assert drain_once(factory, transport, SETTINGS, clock).retried == 1
    assert "Timeout" in (status(factory, first)[1] or "")

    second = add(factory, clock, "第二条")
    assert drain_once(factory, transport, SETTINGS, clock).deferred == 1
    pending, reason = status(factory, second)
    assert pending == "pending" and reason is not None and "month budget of 1 spent" in reason
