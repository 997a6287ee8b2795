"""A customer-group task the guide never confirms shows up as a failed row that `outbox retry` sends again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy.orm import Session, sessionmaker

from bot.cli.main import main
from bot.clock import FrozenClock
from bot.config.core import OutboxConfig
from bot.transports.customer_task import poll_customer_tasks
from bot.transports.drainer import drain_once
from bot.transports.wecom import WecomTransport
from models import customer_task
from tests.bot.transports.conftest import outbox_row, queue_message, wecom_config
from tests.fake_wecom import FakeWecom

SETTINGS = OutboxConfig(batch_size=10, max_attempts=3)
TASKS = "externalcontact/add_msg_template"
CAPPED = {"customer_task_per_month": 1}


def run(*args: str) -> Result:
    env = {"GROUPBOT_DATABASE_URL": None, "GROUPBOT_CONFIG": None}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=True)


def push(factory: sessionmaker[Session], clock: FrozenClock) -> int:
    payload = {"msgtype": "text", "content": "本周活动", "mentions": [], "purpose": "push"}
    return queue_message(factory, clock, "group", "wr-customer", payload)


def test_unconfirmed_task_fails_its_row_and_retry_makes_a_new_task(
    fake_wecom: FakeWecom,
    factory: sessionmaker[Session],
    clock: FrozenClock,
    make_wecom: Callable[..., WecomTransport],
    config_file: Path,
) -> None:
    """After task_expire_hours without the guide's confirmation the row is failed, naming the guide and the
    hours; the operator sees it with `outbox --status failed`, and `outbox retry` creates a new task, even
    with a cap of one task a month (the unconfirmed task never reached the group, so it is not counted)."""
    config = wecom_config(fake_wecom, limits=CAPPED)
    transport = make_wecom(config)
    row_id = push(factory, clock)
    drain_once(factory, transport, SETTINGS, clock)
    assert outbox_row(factory, row_id).status == "sent"

    clock.advance(hours=config.outbound.task_expire_hours)
    assert poll_customer_tasks(factory, transport.api, lambda: config, clock.now()).expired == 1
    failed = outbox_row(factory, row_id)
    assert failed.status == "failed" and failed.sent_at is None
    assert failed.last_error is not None
    assert "guide guide01 did not confirm customer task task-2" in failed.last_error
    assert "within 24 hours" in failed.last_error

    listed = run("outbox", "--config", str(config_file), "--status", "failed")
    assert listed.exit_code == 0, listed.output
    assert f"#{row_id} failed" in listed.output and "did not confirm" in listed.output
    retried = run("outbox", "retry", str(row_id), "--config", str(config_file))
    assert retried.exit_code == 0, retried.output
    clock.set(max(clock.now(), outbox_row(factory, row_id).next_attempt_at))  # the CLI requeues at the real now

    drain_once(factory, transport, SETTINGS, clock)
    assert outbox_row(factory, row_id).status == "sent"
    assert len(fake_wecom.calls_to(TASKS)) == 2
    with factory() as session:
        old, new = customer_task.tasks(session)
    assert (old.msgid, old.status, old.outbox_id) == ("task-2", "expired", row_id)
    assert (new.status, new.outbox_id) == ("waiting", row_id) and new.msgid != old.msgid


def test_task_wecom_reports_undeliverable_fails_its_row_with_the_reason(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """When WeCom answers that the group already got another mass message, the row fails saying so at once."""
    config = wecom_config(fake_wecom)
    transport = make_wecom(config)
    row_id = push(factory, clock)
    drain_once(factory, transport, SETTINGS, clock)
    fake_wecom.task_status["task-2"] = 3
    clock.advance(seconds=config.outbound.task_poll_seconds)
    assert poll_customer_tasks(factory, transport.api, lambda: config, clock.now()).expired == 1

    failed = outbox_row(factory, row_id)
    assert failed.status == "failed"
    assert failed.last_error is not None and "already received another mass message" in failed.last_error
