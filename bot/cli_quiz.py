"""`groupbot quiz …`: close overdue quizzes (until the scheduler does it every minute) and list the open ones."""

from __future__ import annotations

import click

from bot.clock import SystemClock
from models.db import make_engine, make_session_factory


def register(main: click.Group) -> None:
    """Add the `quiz` command group to `main`."""
    from bot.cli import _load, _require_migrated, config_option

    @main.group()
    def quiz() -> None:
        """Quiz games: close overdue quizzes, list open ones."""

    @quiz.command("close-due")
    @config_option
    def close_due(config_path: str) -> None:
        """Close every quiz whose deadline has passed: credit the winners and queue each result once."""
        from handlers.quiz import close_due_quizzes

        config = _load(config_path)
        engine = make_engine(config.database_url)
        try:
            _require_migrated(engine, config_path)
            closed = close_due_quizzes(make_session_factory(engine), config, SystemClock().now())
        finally:
            engine.dispose()
        click.echo(f"closed {closed} overdue quiz(zes)")

    @quiz.command("list")
    @config_option
    def list_open(config_path: str) -> None:
        """List the open quizzes: chat, question id, deadline in the configured time zone."""
        from models import quiz as quizzes

        config = _load(config_path)
        engine = make_engine(config.database_url)
        try:
            _require_migrated(engine, config_path)
            with make_session_factory(engine)() as session:
                rows = quizzes.open_quizzes(session, None)
                for row in rows:
                    deadline = row.deadline_at.astimezone(config.zone).isoformat(timespec="seconds")
                    group = config.group(row.chat_id)
                    name = f" ({group.name})" if group else ""
                    click.echo(f"{row.id}\t{row.chat_id}{name}\t{row.question_id}\tdeadline {deadline}")
        finally:
            engine.dispose()
        if not rows:
            click.echo("no open quiz")
