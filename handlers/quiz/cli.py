"""`groupbot quiz …`: close overdue quizzes (until the scheduler does it every minute) and list the open ones."""

from __future__ import annotations

import click

from bot.cli.common import config_option, open_database
from bot.clock import SystemClock
from handlers.quiz.commands import close_due_quizzes
from models import quiz as quizzes


@click.group()
def quiz() -> None:
    """Quiz games: close overdue quizzes, list open ones."""


@quiz.command("close-due")
@config_option
def close_due(config_path: str) -> None:
    """Close every quiz whose deadline has passed: credit the winners and queue each result once."""

    with open_database(config_path) as (config, factory):
        closed = close_due_quizzes(factory, config, SystemClock().now())
    click.echo(f"closed {closed} overdue quiz(zes)")


@quiz.command("list")
@config_option
def list_open(config_path: str) -> None:
    """List the open quizzes: chat, question id, deadline in the configured time zone."""

    with open_database(config_path) as (config, factory):
        with factory() as session:
            rows = quizzes.open_quizzes(session, None)
            for row in rows:
                deadline = row.deadline_at.astimezone(config.zone).isoformat(timespec="seconds")
                group = config.group(row.chat_id)
                name = f" ({group.name})" if group else ""
                click.echo(f"{row.id}\t{row.chat_id}{name}\t{row.question_id}\tdeadline {deadline}")
    if not rows:
        click.echo("no open quiz")
