"""`groupbot groupbuy …` and `groupbot report guides`: close overdue deals, export a roster, credit guides."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta

import click
from sqlalchemy.orm import Session

from bot.cli.common import config_option, local_time, open_database
from bot.cli.sheets import LANG_OPTION, Column, headers, local_naive, write_csv, write_xlsx
from bot.clock import SystemClock
from bot.config.core import Config
from handlers.groupbuy.commands import close_due_groupbuys
from handlers.groupbuy.terms import yuan
from models import groupbuy
from models.groupbuy import Deal
from models.membership import display_names, group_name_of

ROSTER_COLUMNS: list[Column] = [
    ("number", "跟团号"), ("user_id", "成员ID"), ("name", "成员"), ("quantity", "数量"),
    ("unit_price_yuan", "单价(元)"), ("amount_yuan", "金额(元)"), ("guide", "导购ID"), ("guide_name", "导购"),
    ("status", "状态"), ("signed_up_at", "报名时间"),
]  # fmt: skip
GUIDE_COLUMNS: list[Column] = [
    ("guide", "导购ID"), ("guide_name", "导购"), ("deals_opened", "开团数"), ("signups", "报名数"),
    ("quantity", "份数"), ("gmv_yuan", "成交额(元)"), ("members_brought", "带来成员数"),
]  # fmt: skip
DEAL_COLUMNS: list[Column] = [
    ("code", "团号"), ("title", "标题"), ("group", "群"), ("taken", "已报份数"), ("places", "名额"),
    ("unit_price_yuan", "单价(元)"), ("deadline", "截止时间"), ("opened_by", "开团人"),
]  # fmt: skip
# Kept for callers that name the English header row.
ROSTER_HEADER = headers(ROSTER_COLUMNS, "en")
GUIDE_HEADER = headers(GUIDE_COLUMNS, "en")


def _cents(cents: int) -> float | int:
    return cents // 100 if cents % 100 == 0 else cents / 100


def roster_rows(
    session: Session, config: Config, deal: Deal, *, lang: str = "en", sheet: bool = False
) -> list[list[object]]:
    """Return the deal's confirmed then waitlisted signups as rows, and a totals row for the confirmed ones.

    Each of the deal's fields (需要=…) adds a column with the members' answers. In a sheet, money is a
    number and the signup time a date; in CSV both are text.
    """
    signed = groupbuy.signups(session, deal.id, "confirmed") + groupbuy.signups(session, deal.id, "waitlisted")
    names = display_names(session, [s.user_id for s in signed] + [s.guide for s in signed if s.guide])
    rows: list[list[object]] = []

    def money(cents: int) -> object:
        return _cents(cents) if sheet else yuan(cents)

    def status(value: str) -> str:
        return value if lang == "en" else config.texts.render(f"groupbuy_status_{value}")

    for s in signed:
        answers = s.answer_map
        when: object = local_naive(s.created_at, config.zone) if sheet else local_time(s.created_at, config)
        rows.append(
            [s.number, s.user_id, names[s.user_id], s.quantity, money(deal.price_cents),
             money(s.quantity * deal.price_cents), s.guide or "", names.get(s.guide, "") if s.guide else "",
             status(s.status), when, *(answers.get(name, "") for name in deal.field_names)]
        )  # fmt: skip
    confirmed = [s for s in signed if s.status == "confirmed"]
    quantity = sum(s.quantity for s in confirmed)
    total, counted = (
        ("TOTAL", f"{len(confirmed)} confirmed") if lang == "en" else ("合计", f"{len(confirmed)} 人已报名")
    )
    outcome = deal.outcome or deal.status
    shown_outcome = outcome if lang == "en" else config.texts.render(f"groupbuy_state_{outcome}")
    rows.append([total, "", counted, quantity, money(deal.price_cents), money(quantity * deal.price_cents), "", "",
                 shown_outcome, "", *("" for _ in deal.field_names)])  # fmt: skip
    return rows


def deal_preamble(config: Config, deal: Deal, lang: str) -> list[str]:
    """The lines above a deal's sheet: its title and its terms."""
    deadline = deal.deadline_at.astimezone(config.zone).strftime("%Y-%m-%d %H:%M")
    if lang == "en":
        return [
            f"Group-buy {deal.code}: {deal.title}",
            f"price {yuan(deal.price_cents)} yuan, {deal.places} places, forms at {deal.min_members}, "
            f"limit {deal.per_member_limit} each, deadline {deadline}",
        ]
    return [
        f"团购 {deal.code}「{deal.title}」",
        f"单价 ¥{yuan(deal.price_cents)}，名额 {deal.places} 份，{deal.min_members} 人成团，"
        f"每人限购 {deal.per_member_limit} 份，截止 {deadline}",
    ]


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
@LANG_OPTION
def export(config_path: str, code: str, fmt: str, output: str | None, lang: str) -> None:
    """Export deal CODE's (团号) roster with the members' answers and a totals row, for the organiser to ship from."""
    if fmt == "xlsx" and not output:
        raise click.UsageError("--format xlsx needs --output FILE")
    with open_database(config_path) as (config, factory), factory() as session:
        deal = groupbuy.find(session, code)
        if deal is None:
            click.echo(f"no group-buy with code {code!r}", err=True)
            sys.exit(1)
        rows = roster_rows(session, config, deal, lang=lang, sheet=fmt == "xlsx")
        header = headers(ROSTER_COLUMNS, lang) + deal.field_names
        preamble = deal_preamble(config, deal, lang)
    if fmt == "csv":
        write_csv(header, rows, output)
    else:
        assert output is not None
        write_xlsx(header, rows, output, title=deal.code, preamble=preamble)
    if output:
        click.echo(f"wrote {len(rows) - 1} signups of {deal.code} to {output}")


@groupbuy_group.command("list")
@config_option
@click.option("--format", "fmt", type=click.Choice(["table", "csv"]), default="table", show_default=True)
@LANG_OPTION
def list_open(config_path: str, fmt: str, lang: str) -> None:
    """List the open deals (团购列表): code, title, group, places taken, price, deadline."""
    with open_database(config_path) as (config, factory), factory() as session:
        deals = groupbuy.open_deals(session)
        rows: list[list[object]] = []
        for deal in deals:
            group = config.group(deal.chat_id)
            shown = group.name if group else (group_name_of(session, deal.chat_id) if deal.chat_id else None)
            rows.append([deal.code, deal.title, shown or deal.chat_id or "", deal.taken, deal.places,
                         yuan(deal.price_cents), local_time(deal.deadline_at, config), deal.opened_by])  # fmt: skip
    if fmt == "csv":
        write_csv(headers(DEAL_COLUMNS, lang), rows, None)
        return
    if not rows:
        click.echo("no open group-buys")
        return
    for row in rows:
        click.echo(f"{row[0]}  {row[1]}  [{row[2]}]  {row[3]}/{row[4]}  ¥{row[5]}  until {row[6]}  by {row[7]}")


@click.command("guides")
@config_option
@click.option("--from", "since", required=True, help="First day (YYYY-MM-DD, configured time zone).")
@click.option("--to", "until", required=True, help="Last day, included.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv"]), default="table", show_default=True)
@LANG_OPTION
def guides(config_path: str, since: str, until: str, fmt: str, lang: str) -> None:
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
        write_csv(headers(GUIDE_COLUMNS, lang), rows, None)
        return
    if not rows:
        click.echo(f"no group-buy activity from {first} to {last}")
        return
    widths = [max(len(str(v)) for v in column) for column in zip(GUIDE_HEADER, *rows, strict=False)]
    lines: list[Sequence[object]] = [GUIDE_HEADER, *rows]
    for line in lines:
        click.echo("  ".join(str(v).ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())
