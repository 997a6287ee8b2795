"""`groupbot outbox retry` as an operator uses it after fixing what a failed row's hint said."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.cli.main import main
from bot.clock import FrozenClock, SystemClock
from models import OutboxMessage, customer_task
from models import outbox as outbox_rows
from models.db import make_session_factory
from tests.conftest import base_config, write_yaml
from tests.fake_wecom import CORP_ID, SECRET, FakeWecom

HINT = "errcode 60020: WeCom refused this server's IP: add it to 企业可信IP"


def run(*args: str) -> Result:
    env = {"GROUPBOT_DATABASE_URL": None, "GROUPBOT_CONFIG": None}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=True)


def park(factory: sessionmaker[Session], clock: FrozenClock, texts: list[str], fail: int) -> list[int]:
    """Queue one row per text and fail the first `fail` of them as a drainer would."""
    with factory.begin() as session:
        ids = [
            outbox_rows.add_message(
                session,
                channel="app_message",
                target_kind="user",
                target="guide01",
                payload={"msgtype": "text", "content": text, "mentions": []},
                now=clock.now(),
            ).id
            for text in texts
        ]
        claimed = outbox_rows.claim_due(
            session, worker="w", now=clock.now(), limit=fail, reclaim_after=timedelta(minutes=5)
        )
        for row in claimed:
            assert outbox_rows.mark_failed(session, row.id, "w", HINT)
    return ids


def state(factory: sessionmaker[Session], row_id: int) -> tuple[str, int]:
    with factory() as session:
        row = session.get(OutboxMessage, row_id)
        assert row is not None
        return row.status, row.attempts


def test_retry_by_id_requeues_only_that_failed_row(config_file: Path, engine: Engine, clock: FrozenClock) -> None:
    """`outbox retry ID` puts that failed row back as pending with a fresh attempt budget; others stay failed."""
    factory = make_session_factory(engine)
    first, second, pending = park(factory, clock, ["一", "二", "三"], fail=2)
    listed = run("outbox", "--config", str(config_file), "--status", "failed")
    assert listed.exit_code == 0 and "企业可信IP" in listed.output and f"#{first}" in listed.output

    result = run("outbox", "retry", str(first), "--config", str(config_file))
    assert result.exit_code == 0, result.output
    assert f"requeued 1 row(s): #{first}" in result.output
    assert state(factory, first) == ("pending", 0)
    assert state(factory, second) == ("failed", 1)
    assert state(factory, pending) == ("pending", 0)


def test_retry_all_failed(config_file: Path, engine: Engine, clock: FrozenClock) -> None:
    """`outbox retry --all-failed` requeues every failed row and says how many."""
    factory = make_session_factory(engine)
    first, second, _ = park(factory, clock, ["一", "二", "三"], fail=2)
    result = run("outbox", "retry", "--all-failed", "--config", str(config_file))
    assert result.exit_code == 0, result.output
    assert "requeued 2 row(s)" in result.output
    assert state(factory, first) == state(factory, second) == ("pending", 0)


def test_retry_of_a_row_that_is_not_failed_changes_nothing(
    config_file: Path, engine: Engine, clock: FrozenClock
) -> None:
    """Retrying a pending row (or an unknown id) is refused with exit 1 and leaves the row as it was."""
    factory = make_session_factory(engine)
    (pending,) = park(factory, clock, ["一"], fail=0)
    result = run("outbox", "retry", str(pending), "999999", "--config", str(config_file))
    assert result.exit_code == 1
    assert "requeued 0 row(s)" in result.output and f"#{pending}" in result.output and "#999999" in result.output
    assert state(factory, pending) == ("pending", 0)


def test_retry_needs_ids_or_all_failed(config_file: Path, engine: Engine) -> None:
    """Neither ids nor --all-failed is a usage error."""
    result = run("outbox", "retry", "--config", str(config_file))
    assert result.exit_code == 2
    assert "--all-failed" in result.output


def test_poll_tasks_marks_a_confirmed_task_sent(
    tmp_path: Path, database_url: str, engine: Engine, fake_wecom: FakeWecom
) -> None:
    """`outbox poll-tasks` asks the configured WeCom about due tasks and reports what it settled."""
    data = base_config(database_url)
    data["wecom"].update({"corp_id": CORP_ID, "secret": SECRET, "api_base": fake_wecom.base_url})
    data["outbox"] = {"transport": "wecom"}
    config = write_yaml(tmp_path / "wecom.yaml", data)
    now = SystemClock().now()
    with make_session_factory(engine).begin() as session:
        customer_task.record_task(
            session,
            msgid="task-9",
            outbox_id=None,
            chat_id="wr-customer",
            sender="guide01",
            now=now,
            expires_at=now + timedelta(hours=24),
            next_poll_at=now - timedelta(seconds=1),
        )
    fake_wecom.task_status["task-9"] = 1
    fake_wecom.task_chats["task-9"] = "wr-customer"

    result = run("outbox", "poll-tasks", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert "polled 1, sent 1, expired 0" in result.output
    with make_session_factory(engine)() as session:
        assert [t.status for t in customer_task.tasks(session)] == ["sent"]


def test_poll_tasks_refuses_without_the_wecom_transport(config_file: Path, engine: Engine) -> None:
    """With the console transport there is nothing to poll, and the command says so."""
    result = run("outbox", "poll-tasks", "--config", str(config_file))
    assert result.exit_code == 2 and "not wecom" in result.output
