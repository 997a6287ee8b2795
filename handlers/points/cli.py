"""`groupbot points …`: audit the ledger, export it, and settle redemptions from the command line."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy import select

from bot.cli.common import config_option, local_time, open_database
from bot.cli.sheets import LANG_OPTION, Column, headers, pick, read_table, write_csv
from bot.clock import SystemClock
from handlers.points.config import POINTS_SECTION
from models import ledger, rewards
from models.membership import display_names, group_name_of

LEDGER_COLUMNS: list[Column] = [
    ("id", "序号"), ("created_at", "时间"), ("business_day", "业务日"), ("user_id", "成员ID"), ("name", "成员"),
    ("chat_id", "群ID"), ("group", "群"), ("delta", "积分变动"), ("reason", "原因"), ("note", "备注"),
    ("actor", "操作人"), ("key", "幂等键"),
]  # fmt: skip
REDEMPTION_COLUMNS: list[Column] = [
    ("id", "兑换单号"), ("created_at", "时间"), ("user_id", "成员ID"), ("name", "成员"), ("chat_id", "群ID"),
    ("code", "奖品编号"), ("reward", "奖品"), ("cost", "积分"), ("status", "状态"), ("settled_at", "处理时间"),
    ("settled_by", "处理人"),
]  # fmt: skip
# What `points import` reads: a member and their opening balance (and an optional note).
IMPORT_USER: Column = ("user_id", "成员ID")
IMPORT_POINTS: Column = ("points", "积分")
IMPORT_NOTE: Column = ("note", "备注")
MAX_IMPORT_POINTS = 10_000_000

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
@LANG_OPTION
def export(config_path: str, out_dir: str, lang: str) -> None:
    """Write ledger.csv and redemptions.csv (UTF-8 with BOM, times in the configured zone, member and group names)."""
    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    with open_database(config_path) as (config, factory), factory() as session:
        entries = ledger.entries(session)
        redemptions = list(reversed(rewards.list_redemptions(session)))
        names = display_names(session, [e.user_id for e in entries] + [r.user_id for r in redemptions])
        chats = {e.chat_id for e in entries if e.chat_id}
        groups = {c: (g.name if (g := config.group(c)) else group_name_of(session, c) or "") for c in chats}
    ledger_rows = [
        [e.id, local_time(e.created_at, config), e.day.isoformat(), e.user_id, names[e.user_id], e.chat_id or "",
         groups.get(e.chat_id, "") if e.chat_id else "", e.delta, e.reason, e.note or "", e.actor, e.key]
        for e in entries
    ]  # fmt: skip
    write_csv(headers(LEDGER_COLUMNS, lang), ledger_rows, str(target / "ledger.csv"))
    redemption_rows = [
        [r.id, local_time(r.created_at, config), r.user_id, names[r.user_id], r.chat_id or "", r.code, r.name, r.cost,
         r.status, local_time(r.settled_at, config), r.settled_by or ""]
        for r in redemptions
    ]  # fmt: skip
    write_csv(headers(REDEMPTION_COLUMNS, lang), redemption_rows, str(target / "redemptions.csv"))
    click.echo(f"wrote {len(entries)} ledger rows to {target / 'ledger.csv'}")
    click.echo(f"wrote {len(redemptions)} redemptions to {target / 'redemptions.csv'}")


@points.command("import")
@config_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check the file and show what would change; change nothing.")
@click.option(
    "--batch",
    default="opening",
    show_default=True,
    help="Name of this import; each member is credited once per batch, so a re-run changes nothing.",
)
def import_balances(config_path: str, file: str, dry_run: bool, batch: str) -> None:
    """Credit members' opening balances from a CSV or XLSX (columns 成员ID/user_id, 积分/points, 备注/note).

    Every credit goes through the ledger with the key import:BATCH:USERID, so running the same file
    again (or after a crash half-way) credits nobody twice. A file with any bad row changes nothing.
    """
    rows = read_table(file)
    problems: list[str] = []
    wanted: dict[str, tuple[int, str]] = {}
    for line, row in enumerate(rows, start=2):
        user, raw, note = pick(row, IMPORT_USER), pick(row, IMPORT_POINTS), pick(row, IMPORT_NOTE)
        if not user or len(user) > 128:
            problems.append(f"line {line}: missing or too long user id")
            continue
        amount = int(raw) if raw.isdigit() else (int(float(raw)) if raw.replace(".", "", 1).isdigit() else -1)
        if not 1 <= amount <= MAX_IMPORT_POINTS or (raw.replace(".", "", 1).isdigit() and float(raw) != amount):
            problems.append(f"line {line}: points {raw!r} must be a whole number from 1 to {MAX_IMPORT_POINTS}")
            continue
        if user in wanted:
            problems.append(f"line {line}: {user} appears twice")
            continue
        wanted[user] = (amount, note)
    if not rows:
        problems.append("the file has no rows (expected a header: 成员ID,积分,备注 or user_id,points,note)")
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        click.echo(f"{len(problems)} problem(s); nothing imported", err=True)
        raise SystemExit(1)
    keys = {user: f"import:{batch}:{user}" for user in wanted}
    clock = SystemClock()
    with open_database(config_path) as (config, factory), factory.begin() as session:
        done = set(
            session.scalars(select(ledger.PointsEntry.key).where(ledger.PointsEntry.key.in_(list(keys.values()))))
        )
        fresh = {user: value for user, value in wanted.items() if keys[user] not in done}
        if not dry_run:
            now = clock.now()
            day = POINTS_SECTION.of(config).day(now, config.zone)
            for user, (amount, note) in fresh.items():
                ledger.post(
                    session, user_id=user, delta=amount, reason="import", key=keys[user], actor=f"import:{batch}",
                    at=now, day=day, note=note or None,
                )  # fmt: skip
    total = sum(amount for amount, _note in fresh.values())
    verb = "would credit" if dry_run else "credited"
    click.echo(
        f"{verb} {len(fresh)} member(s), {total} points; {len(wanted) - len(fresh)} already imported in batch {batch!r}"
    )
    if dry_run:
        for user, (amount, _note) in list(fresh.items())[:20]:
            click.echo(f"  {user} +{amount}")


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
