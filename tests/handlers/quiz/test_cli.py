"""`groupbot quiz …` as an operator uses it: close overdue quizzes once, list the open ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy.engine import Engine

from models import OutboxMessage
from models import quiz as quizzes
from models.db import make_session_factory
from tests.conftest import count_rows
from tests.handlers.quiz.chat import QUIZ


def run(*args: str) -> Result:
    from bot.cli.main import main

    environment = {"GROUPBOT_DATABASE_URL": None, "GROUPBOT_CONFIG": None}
    return CliRunner().invoke(main, list(args), env=environment, catch_exceptions=True)


def open_quiz(engine: Engine, chat: str, deadline: datetime) -> None:
    with make_session_factory(engine).begin() as session:
        quizzes.open_quiz(
            session,
            chat_id=chat,
            question=QUIZ["questions"][0],
            points_by_rank=[10, 5, 3],
            participation_points=1,
            started_by="guide01",
            now=deadline - timedelta(minutes=1),
            day=deadline.date(),
            deadline=deadline,
        )


def test_close_due_closes_only_overdue_quizzes_once(config_file: Path, engine: Engine) -> None:
    now = datetime.now(UTC)
    open_quiz(engine, "wrgroup0001", now - timedelta(seconds=5))
    open_quiz(engine, "wrgroup0002", now + timedelta(hours=1))

    listed = run("quiz", "list", "--config", str(config_file))
    assert listed.exit_code == 0, listed.output
    assert len(listed.output.splitlines()) == 2 and "q001" in listed.output

    result = run("quiz", "close-due", "--config", str(config_file))
    assert result.exit_code == 0, result.output
    assert "closed 1 overdue" in result.output
    assert count_rows(engine, OutboxMessage) == 1
    again = run("quiz", "close-due", "--config", str(config_file))
    assert "closed 0 overdue" in again.output
    assert count_rows(engine, OutboxMessage) == 1
    listed = run("quiz", "list", "--config", str(config_file))
    assert "wrgroup0002" in listed.output and "wrgroup0001" not in listed.output


def test_close_due_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    from tests.conftest import base_config, write_yaml

    path = write_yaml(tmp_path / "config.yaml", base_config(f"sqlite:///{tmp_path / 'empty.db'}"))
    result = run("quiz", "close-due", "--config", str(path))
    assert result.exit_code == 2
    assert "not migrated" in result.output
