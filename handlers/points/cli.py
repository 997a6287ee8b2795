"""`groupbot points …`: audit the ledger, export it, and settle redemptions from the command line."""

from __future__ import annotations

import csv
from pathlib import Path

import click

from bot.cli.common import CSV_ENCODING, config_option, local_time, open_database, safe_cells
from bot.clock import SystemClock
from handlers.points.config import POINTS_SECTION
from models import ledger, rewards

# Redemption ids live in an INTEGER column.
REDEMPTION_ID = click.IntRange(1, 2**31 - 1)


@click.group()
def points() -> None:
    """Points economy: audit, export, redemptions."""


@points.command("audit")
@config_option
def audit(config_path: str) -> None:
    """Check that every balance equals the sum of its ledger rows; exit 1 naming each member that does not."""
    with open_database(config_path) as (_config, factory), factory() as session:
        if session.get_bind().dialect.name == "postgresql":
            # One snapshot for the audit and the counts, however busy the bot is meanwhile.
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        problems = ledger.audit(session)
        accounts = ledger.accounts_count(session)
        rows = ledger.entries_count(session)
    for p in problems:
        click.echo(
            f"MISMATCH {p.user_id}: balance {p.balance} but ledger sums to {p.ledger_sum}; "
            f"earned {p.earned} but ledger earnings sum to {p.ledger_earned}",
            err=True,
        )
    if problems:
        click.echo(f"{len(problems)} of {accounts} accounts do not match their ledger", err=True)
        raise SystemExit(1)
    click.echo(f"OK: {accounts} accounts, {rows} ledger rows; every balance equals the sum of its ledger")


@points.command("export")
@config_option
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Directory for the CSVs.")
def export(config_path: str, out_dir: str) -> None:
    """Write ledger.csv and redemptions.csv (UTF-8 with BOM, times in the configured zone)."""
    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    with open_database(config_path) as (config, factory), factory() as session:
        entries = ledger.entries(session)
        redemptions = list(reversed(rewards.list_redemptions(session)))
    with (target / "ledger.csv").open("w", encoding=CSV_ENCODING, newline="") as fh:
        out = csv.writer(fh)
        out.writerow(
            ["id", "created_at", "business_day", "user_id", "chat_id", "delta", "reason", "note", "actor", "key"]
        )
        for e in entries:
            out.writerow(safe_cells(
                [e.id, local_time(e.created_at, config), e.day.isoformat(), e.user_id, e.chat_id or "", e.delta,
                 e.reason, e.note or "", e.actor, e.key]
            ))  # fmt: skip
    with (target / "redemptions.csv").open("w", encoding=CSV_ENCODING, newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["id", "created_at", "user_id", "chat_id", "code", "name", "cost", "status", "settled_at",
                      "settled_by"])  # fmt: skip
        for r in redemptions:
            created, settled_at = local_time(r.created_at, config), local_time(r.settled_at, config)
            out.writerow(safe_cells(
                [r.id, created, r.user_id, r.chat_id or "", r.code, r.name, r.cost, r.status,
                 settled_at, r.settled_by or ""]
            ))  # fmt: skip
    click.echo(f"wrote {len(entries)} ledger rows to {target / 'ledger.csv'}")
    click.echo(f"wrote {len(redemptions)} redemptions to {target / 'redemptions.csv'}")


@points.command("redemptions")
@config_option
@click.option("--status", type=click.Choice(rewards.REDEMPTION_STATUSES), help="Only redemptions of this status.")
@click.option("--limit", default=50, show_default=True, type=int)
def list_redemptions(config_path: str, status: str | None, limit: int) -> None:
    """List redemptions, newest first."""
    with open_database(config_path) as (config, factory), factory() as session:
        found = rewards.list_redemptions(session, status=status, limit=limit)
    for r in found:
        settled = f"  {r.status} by {r.settled_by} at {local_time(r.settled_at, config)}" if r.settled_at else ""
        click.echo(
            f"#{r.id} {r.status:<9} {r.user_id} {r.code} {r.name} {r.cost} points  "
            f"{local_time(r.created_at, config)}{settled}"
        )
    if not found:
        click.echo("no redemptions" + (f" with status {status}" if status else ""))


def _settle(config_path: str, redemption_id: int, by: str, *, fulfil: bool) -> None:
    clock = SystemClock()
    with open_database(config_path) as (config, factory), factory.begin() as session:
        now = clock.now()
        if fulfil:
            result = rewards.fulfil(session, redemption_id, by=by, at=now)
        else:
            result = rewards.cancel(
                session, redemption_id, by=by, at=now, day=POINTS_SECTION.of(config).day(now, config.zone)
            )
    if result.status == "missing":
        click.echo(f"no redemption #{redemption_id}", err=True)
        raise SystemExit(1)
    assert result.redemption is not None
    if result.status == "not_pending":
        click.echo(f"redemption #{redemption_id} is already {result.redemption.status}; nothing changed", err=True)
        raise SystemExit(1)
    done = "fulfilled" if fulfil else f"cancelled; {result.redemption.cost} points refunded"
    click.echo(f"redemption #{redemption_id} ({result.redemption.user_id}, {result.redemption.name}) {done}")


@points.command("fulfil")
@config_option
@click.argument("redemption_id", type=REDEMPTION_ID)
@click.option("--by", default="cli", show_default=True, help="Who handed the reward over (recorded).")
def fulfil(config_path: str, redemption_id: int, by: str) -> None:
    """Mark a pending redemption as handed over."""
    _settle(config_path, redemption_id, by, fulfil=True)


@points.command("cancel")
@config_option
@click.argument("redemption_id", type=REDEMPTION_ID)
@click.option("--by", default="cli", show_default=True, help="Who cancelled it (recorded).")
def cancel(config_path: str, redemption_id: int, by: str) -> None:
    """Cancel a pending redemption: refund its points and return the unit to stock."""
    _settle(config_path, redemption_id, by, fulfil=False)
