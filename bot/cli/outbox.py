"""`groupbot outbox`: list rows, send failed rows again, poll customer-group tasks."""

from __future__ import annotations

import json

import click

from bot.cli.common import config_option, load_or_exit, require_migrated
from bot.clock import SystemClock
from bot.transports.customer_task import poll_customer_tasks
from bot.transports.wecom import build_wecom_transport
from models.db import make_engine, make_session_factory
from models.outbox import STATUSES, list_messages, requeue_failed


@click.group("outbox", invoke_without_command=True)
@config_option
@click.option("--status", type=click.Choice(STATUSES), help="Only rows of this status.")
@click.option("--limit", default=50, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per row.")
@click.pass_context
def outbox(ctx: click.Context, config_path: str, status: str | None, limit: int, as_json: bool) -> None:
    """List outbox rows, newest first (see also: retry, poll-tasks)."""
    if ctx.invoked_subcommand is not None:
        return
    config = load_or_exit(config_path)
    engine = make_engine(config.database_url)
    require_migrated(engine, config_path)
    with make_session_factory(engine)() as session:
        rows = list_messages(session, status=status, limit=limit)
    zone = config.zone
    for row in rows:
        record = {
            "id": row.id,
            "status": row.status,
            "channel": row.channel,
            "target_kind": row.target_kind,
            "target": row.target,
            "attempts": row.attempts,
            "created_at": row.created_at.astimezone(zone).isoformat(timespec="seconds"),
            "next_attempt_at": row.next_attempt_at.astimezone(zone).isoformat(timespec="seconds"),
            "sent_at": row.sent_at.astimezone(zone).isoformat(timespec="seconds") if row.sent_at else None,
            "last_error": row.last_error,
            "payload": row.payload,
        }
        if as_json:
            click.echo(json.dumps(record, ensure_ascii=False))
        else:
            text = str(row.payload.get("content", "")).replace("\n", " ")
            text = text if len(text) <= 40 else text[:40] + "…"
            click.echo(
                f"#{row.id} {row.status:<7} {row.channel:<11} → {row.target}  "
                f"attempts={row.attempts} {record['created_at']}  {text}"
                + (f"  error: {row.last_error}" if row.last_error else "")
            )
    if not rows and not as_json:
        click.echo("no outbox rows" + (f" with status {status}" if status else ""))


@outbox.command("retry")
@config_option
@click.argument("ids", nargs=-1, type=int)
@click.option("--all-failed", is_flag=True, help="Send every failed row again.")
def retry(config_path: str, ids: tuple[int, ...], all_failed: bool) -> None:
    """Send failed rows again (by id, or --all-failed), with a fresh attempt budget."""
    if bool(ids) == all_failed:
        raise click.UsageError("give row ids or --all-failed (not both)")
    config = load_or_exit(config_path)
    engine = make_engine(config.database_url)
    require_migrated(engine, config_path)
    with make_session_factory(engine).begin() as session:
        requeued = requeue_failed(session, SystemClock().now(), None if all_failed else list(ids))
    skipped = sorted(set(ids) - set(requeued))
    listed = ", ".join(f"#{i}" for i in requeued)
    click.echo(f"requeued {len(requeued)} row(s)" + (f": {listed}" if requeued else ""))
    if skipped:
        click.echo(f"not failed (left alone): {', '.join(f'#{i}' for i in skipped)}", err=True)
        raise SystemExit(1)


@outbox.command("poll-tasks")
@config_option
def poll_tasks(config_path: str) -> None:
    """Ask WeCom whether guides have sent the customer-group tasks that are due for a look."""
    config = load_or_exit(config_path)
    engine = make_engine(config.database_url)
    require_migrated(engine, config_path)
    if config.outbox.transport != "wecom":
        raise click.UsageError("outbox.transport is not wecom: there are no customer-group tasks to poll")

    factory = make_session_factory(engine)
    clock = SystemClock()
    transport = build_wecom_transport(lambda: config, factory, clock)
    report = poll_customer_tasks(factory, transport.api, lambda: config, clock.now())
    click.echo(f"polled {report.polled}, sent {report.sent}, expired {report.expired}")
    if report.expired:
        click.echo(
            "expired tasks never reached their groups; their outbox rows are now failed: "
            "see `groupbot outbox --status failed`, send them again with `groupbot outbox retry`"
        )
