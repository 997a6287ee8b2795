"""`groupbot quiz …`: close overdue quizzes (until the scheduler does it every minute), list the open ones,
and import the question bank from a table."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import click

from bot.cli.common import config_option, current_registry, load_or_exit, open_database
from bot.cli.sheets import read_table
from bot.clock import SystemClock
from bot.config.loader import ConfigError
from handlers.quiz.commands import close_due_quizzes
from handlers.quiz.importer import QuizImportError, check_rows, merge
from models import quiz as quizzes


@click.group()
def quiz() -> None:
    """Quiz games: close overdue quizzes, list open ones, import questions."""


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


@quiz.command("import")
@config_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check the file and show what would be added or updated; write nothing.")
def import_questions(config_path: str, file: str, dry_run: bool) -> None:
    """Add or update quiz.questions in the config file from a CSV or XLSX.

    Columns 题号,题目,A,B,C,D,答案,解析,积分,标签 (or id,question,a,b,c,d,answers,explain,points,tags).
    A question id already in the file is updated, a new one appended, so a re-run changes nothing; a file
    with any bad row changes nothing. Comments and the rest of the config file are kept; the running
    service picks the edit up when it reloads its config.
    """
    load_or_exit(config_path)
    target = Path(config_path).resolve()
    try:
        rows = check_rows(read_table(file))
        plan = merge(target.read_text(encoding="utf-8"), rows)
    except QuizImportError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        click.echo(f"{len(exc.problems)} problem(s); nothing imported", err=True)
        raise SystemExit(1) from None
    verb = ("would add", "would update") if dry_run else ("added", "updated")
    click.echo(
        f"{verb[0]} {len(plan.added)}, {verb[1]} {len(plan.updated)}, "
        f"{len(plan.unchanged)} unchanged question(s) in {config_path}"
    )
    for mark, ids in (("+", plan.added), ("~", plan.updated)):
        for question_id in ids:
            click.echo(f"  {mark} {question_id}")
    if dry_run or not plan.changes:
        return
    _replace_checked(target, plan.text)


def _replace_checked(target: Path, text: str) -> None:
    """Write `text` over `target` only if it loads as a config; atomically, keeping the file's mode."""
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".import", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as fh:
            fh.write(text)
        shutil.copymode(target, temp)
        try:
            current_registry().load_config(temp)
        except ConfigError as exc:
            click.echo(f"the imported config would not load; nothing written:\n{exc}", err=True)
            raise SystemExit(1) from None
        os.replace(temp, target)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
