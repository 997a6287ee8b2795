"""`groupbot groupbuy …` and `groupbot report guides`: close overdue deals, export a roster, credit guides."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path

import click
from openpyxl import Workbook
from sqlalchemy.orm import Session

from bot.cli.common import CSV_ENCODING, config_option, local_time, open_database, safe_cells
from bot.clock import SystemClock
from bot.config.core import Config
from handlers.groupbuy.commands import close_due_groupbuys
from handlers.groupbuy.terms import yuan
from models import groupbuy
from models.groupbuy import Deal
from models.membership import display_names

ROSTER_HEADER = ["number", "user_id", "name", "quantity", "unit_price_yuan", "amount_yuan", "guide", "guide_name",
                 "status", "signed_up_at"]  # fmt: skip
GUIDE_HEADER = ["guide", "guide_name", "deals_opened", "signups", "quantity", "gmv_yuan", "members_brought"]


def roster_rows(session: Session, config: Config, deal: Deal) -> list[list[object]]:
    """Return the deal's confirmed then waitlisted signups as rows, and a totals row for the confirmed ones."""
    signed = groupbuy.signups(session, deal.id, "confirmed") + groupbuy.signups(session, deal.id, "waitlisted")
    names = display_names(session, [s.user_id for s in signed] + [s.guide for s in signed if s.guide])
    rows: list[list[object]] = []
    for s in signed:
        rows.append(
            [s.number, s.user_id, names[s.user_id], s.quantity, yuan(deal.price_cents),
             yuan(s.quantity * deal.price_cents), s.guide or "", names.get(s.guide, "") if s.guide else "", s.status,
             local_time(s.created_at, config)]
        )  # fmt: skip
    confirmed = [s for s in signed if s.status == "confirmed"]
    quantity = sum(s.quantity for s in confirmed)
    rows.append(["TOTAL", "", f"{len(confirmed)} confirmed", quantity, yuan(deal.price_cents),
                 yuan(quantity * deal.price_cents), "", "", deal.outcome or deal.status, ""])  # fmt: skip
    return rows


def _write_csv(header: list[str], rows: list[list[object]], output: str | None) -> None:
    if output:
        with Path(output).open("w", encoding=CSV_ENCODING, newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(safe_cells(row) for row in rows)
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(safe_cells(row) for row in rows)
    click.echo(buffer.getvalue(), nl=False)


# Columns that are numbers in a sheet (text in CSV): the organiser sums them; ids stay text.
NUMERIC = frozenset({"quantity", "unit_price_yuan", "amount_yuan", "deals_opened", "signups", "gmv_yuan"})


def _write_xlsx(header: list[str], rows: list[list[object]], output: str, title: str) -> None:

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title[:31]
    sheet.append(header)
    for row in rows:
        sheet.append(safe_cells([_number(v) if name in NUMERIC else v for name, v in zip(header, row, strict=True)]))
    book.save(output)


def _number(value: object) -> object:
    if isinstance(value, str) and value.replace(".", "", 1).isdigit():
        return float(value) if "." in value else int(value)
    return value


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-11-01") from None


@click.group("groupbuy")
def groupbuy_group() -> None:
    """Group-buys: close overdue deals, export rosters."""


@groupbuy_group.command("close-due")
@config_option
def close_due(config_path: str) -> None:
    """Close every open deal whose deadline has passed and queue its announcements."""

    with open_database(config_path) as (config, factory):
        closed = close_due_groupbuys(factory, config, SystemClock().now())
    click.echo(f"closed {closed} group-buy(s) past their deadline")


@groupbuy_group.command("export")
@config_option
@click.argument("code")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False), help="File to write (csv: stdout when omitted).")
def export(config_path: str, code: str, fmt: str, output: str | None) -> None:
    """Export the roster of deal CODE (团号) with a totals row, for the organiser to ship from."""
    if fmt == "xlsx" and not output:
        raise click.UsageError("--format xlsx needs --output FILE")
    with open_database(config_path) as (config, factory), factory() as session:
        deal = groupbuy.find(session, code)
        if deal is None:
            click.echo(f"no group-buy with code {code!r}", err=True)
            sys.exit(1)
        rows = roster_rows(session, config, deal)
    if fmt == "csv":
        _write_csv(ROSTER_HEADER, rows, output)
    else:
        assert output is not None
        _write_xlsx(ROSTER_HEADER, rows, output, deal.code)
    if output:
        click.echo(f"wrote {len(rows) - 1} signups of {deal.code} to {output}")


@click.command("guides")
@config_option
@click.option("--from", "since", required=True, help="First day (YYYY-MM-DD, configured time zone).")
@click.option("--to", "until", required=True, help="Last day, included.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv"]), default="table", show_default=True)
def guides(config_path: str, since: str, until: str, fmt: str) -> None:
    """Per guide: deals opened, signups credited, quantity, GMV in yuan and members brought."""
    first, last = _day(since), _day(until)
    if last < first:
        raise click.BadParameter("--to is before --from")
    with open_database(config_path) as (config, factory), factory() as session:
        start = datetime.combine(first, time(), tzinfo=config.zone)
        end = datetime.combine(last + timedelta(days=1), time(), tzinfo=config.zone)
        figures = groupbuy.guide_report(session, start, end)
        names = display_names(session, [f.guide for f in figures if f.guide])
    rows: list[list[object]] = [
        [f.guide or "(none)", names.get(f.guide, "") if f.guide else "", f.deals_opened, f.signups, f.quantity,
         yuan(f.gmv_cents) if f.gmv_cents else "0", f.members]
        for f in figures
    ]  # fmt: skip
    if fmt == "csv":
        _write_csv(GUIDE_HEADER, rows, None)
        return
    if not rows:
        click.echo(f"no group-buy activity from {first} to {last}")
        return
    widths = [max(len(str(v)) for v in column) for column in zip(GUIDE_HEADER, *rows, strict=False)]
    lines: list[Sequence[object]] = [GUIDE_HEADER, *rows]
    for line in lines:
        click.echo("  ".join(str(v).ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())
