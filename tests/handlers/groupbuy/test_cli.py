"""`groupbot groupbuy …` and `groupbot report guides` against a known history of deals."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from click.testing import CliRunner, Result
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.cli.main import main
from bot.clock import FrozenClock
from bot.services import Services
from models import OutboxMessage, groupbuy
from models.db import make_session_factory
from models.membership import set_display_name
from tests.handlers.groupbuy.chat import Bot

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=SHANGHAI)


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"GROUPBOT_DATABASE_URL": None, "GROUPBOT_CONFIG": None})


def seed(engine: Engine) -> dict[str, str]:
    """Four deals over a week; returns their codes by letter.

    A (guide01, 11-20, ¥39.90, 3 places, formed): lisi ×2 and wangwu ×1 confirmed (guides 01 and 02), zhaoliu
      waitlisted, qianba cancelled.  B (guide02, 11-21, ¥10, not formed): sunqi ×1.  D (guide02, 11-21, ¥5, open):
      lisi ×3 credited to guide01.  C (guide01, 11-19, outside the report's range): lisi ×1.
    """
    factory = make_session_factory(engine)
    codes: dict[str, str] = {}
    with factory.begin() as session:

        def deal(letter: str, by: str, cents: int, places: int, min_members: int, when: datetime) -> int:
            # Every deadline is the evening of the day it opened: long past when the CLI runs.
            made = groupbuy.open_deal(
                session, code_style="number", code_prefix="T", title=f"货品{letter}", price_cents=cents,
                places=places, min_members=min_members, per_member_limit=3, deadline_at=when.replace(hour=20),
                opened_by=by, chat_id="wrgroup0001", at=when,
            )  # fmt: skip
            codes[letter] = made.code
            return made.id

        def join(deal_id: int, user: str, quantity: int, guide: str, when: datetime) -> None:
            groupbuy.sign_up(session, deal_id, user_id=user, chat_id=None, quantity=quantity, guide=guide, at=when)

        a = deal("A", "guide01", 3990, 3, 2, at(11, 20))
        join(a, "lisi", 2, "guide01", at(11, 20, 11))
        join(a, "wangwu", 1, "guide02", at(11, 20, 12))
        join(a, "zhaoliu", 1, "guide01", at(11, 20, 13))
        join(a, "qianba", 1, "guide02", at(11, 20, 14))
        groupbuy.cancel(session, a, user_id="qianba", at=at(11, 20, 15))
        b = deal("B", "guide02", 1000, 5, 3, at(11, 21))
        join(b, "sunqi", 1, "guide02", at(11, 21, 11))
        d = deal("D", "guide02", 500, 5, 1, at(11, 21, 16))
        join(d, "lisi", 3, "guide01", at(11, 21, 17))
        c = deal("C", "guide01", 2000, 5, 1, at(11, 19))
        join(c, "lisi", 1, "guide01", at(11, 19, 11))
        groupbuy.close(session, a, by="guide01", at=at(11, 22))
        groupbuy.close(session, b, by="deadline", at=at(11, 22))
        set_display_name(session, "lisi", "李四", at(11, 20))
        set_display_name(session, "wangwu", '=HYPERLINK("http://x","点我")', at(11, 20))
        set_display_name(session, "guide01", "小美", at(11, 20))
    return codes


def test_export_csv_lists_the_roster_with_totals_and_defuses_formulas(config_file: Path, engine: Engine) -> None:
    codes = seed(engine)
    result = run("groupbuy", "export", codes["A"], "--lang", "en", "--config", str(config_file))
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.output)))
    assert rows[0][:6] == ["number", "user_id", "name", "quantity", "unit_price_yuan", "amount_yuan"]
    body = [(r[0], r[1], r[2], r[3], r[5], r[6], r[7], r[8]) for r in rows[1:]]
    assert body == [
        ("1", "lisi", "李四", "2", "79.80", "guide01", "小美", "confirmed"),
        ("2", "wangwu", '\'=HYPERLINK("http://x","点我")', "1", "39.90", "guide02", "guide02", "confirmed"),
        ("3", "zhaoliu", "zhaoliu", "1", "39.90", "guide01", "小美", "waitlisted"),
        ("TOTAL", "", "2 confirmed", "3", "119.70", "", "", "formed"),
    ]


def test_export_xlsx_reads_back_with_numbers_and_totals(config_file: Path, engine: Engine, tmp_path: Path) -> None:
    codes = seed(engine)
    target = tmp_path / "roster.xlsx"
    result = run("groupbuy", "export", codes["A"], "--format", "xlsx", "--output", str(target), "--config",
                 str(config_file))  # fmt: skip
    assert result.exit_code == 0, result.output
    sheet = load_workbook(target).active
    assert sheet is not None
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    # The deal's title and terms on top, a blank line, then the table with Chinese headers.
    assert rows[0][0] == f"团购 {codes['A']}「货品A」" and "单价 ¥39.90" in rows[1][0] and rows[2][0] is None
    assert rows[3][:3] == ["跟团号", "成员ID", "成员"]
    rows = rows[3:]
    assert rows[1][:6] == [1, "lisi", "李四", 2, 39.9, 79.8]
    assert isinstance(rows[1][9], datetime)  # a real date cell, in the configured zone's wall-clock time
    assert rows[2][2] == '\'=HYPERLINK("http://x","点我")'
    assert rows[-1][:6] == ["合计", None, "2 人已报名", 3, 39.9, 119.7]
    assert len(rows) == 5


def test_export_of_an_unknown_code_fails_clearly(config_file: Path, engine: Engine) -> None:
    seed(engine)
    result = run("groupbuy", "export", "NOPE", "--config", str(config_file))
    assert result.exit_code == 1 and "no group-buy with code 'NOPE'" in result.output


def test_guide_report_credits_each_guide_for_the_members_they_brought(config_file: Path, engine: Engine) -> None:
    seed(engine)
    result = run("report", "guides", "--from", "2026-11-20", "--to", "2026-11-22", "--format", "csv", "--lang", "en",
                 "--config", str(config_file))  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.output)))
    assert rows[0] == ["guide", "guide_name", "deals_opened", "signups", "quantity", "gmv_yuan", "members_brought"]
    # guide01: deal A opened; lisi ×2 in A and ×3 in D (C is before the range); B's signup did not form.
    # guide02: A's wangwu ×1; B and D opened; sunqi's signup in B sold nothing.
    assert rows[1:] == [
        ["guide01", "小美", "1", "2", "5", "94.80", "1"],
        ["guide02", "guide02", "2", "1", "1", "39.90", "1"],
    ]
    table = run("report", "guides", "--from", "2026-11-20", "--to", "2026-11-22", "--config", str(config_file))
    assert table.exit_code == 0 and "94.80" in table.output and "gmv_yuan" in table.output
    empty = run("report", "guides", "--from", "2026-10-01", "--to", "2026-10-31", "--config", str(config_file))
    assert "no group-buy activity" in empty.output
    backwards = run("report", "guides", "--from", "2026-11-22", "--to", "2026-11-20", "--config", str(config_file))
    assert backwards.exit_code != 0 and "before --from" in backwards.output


def test_close_due_closes_overdue_deals_and_queues_their_announcements(config_file: Path, engine: Engine) -> None:
    seed(engine)  # deals D and C are still open, their deadlines long past
    result = run("groupbuy", "close-due", "--config", str(config_file))
    assert result.exit_code == 0, result.output
    assert "closed 2 group-buy(s)" in result.output
    with make_session_factory(engine)() as session:
        assert len(session.scalars(select(OutboxMessage)).all()) >= 2
    assert "closed 0 group-buy(s)" in run("groupbuy", "close-due", "--config", str(config_file)).output


def test_export_survives_control_characters_and_defuses_hidden_formula_starters(
    config_file: Path, engine: Engine, tmp_path: Path
) -> None:
    """A name carried in from group sync with \\x01, or starting ＝ or a zero-width space before =, in xlsx and csv."""
    codes = seed(engine)
    with make_session_factory(engine).begin() as session:
        set_display_name(session, "lisi", "李\x01四\x0b", at(11, 21))
        set_display_name(session, "wangwu", '＝HYPERLINK("http://x")', at(11, 21))
        set_display_name(session, "zhaoliu", "\u200b=1+1", at(11, 21))
    target = tmp_path / "roster.xlsx"
    result = run("groupbuy", "export", codes["A"], "--format", "xlsx", "--output", str(target), "--config",
                 str(config_file))  # fmt: skip
    assert result.exit_code == 0, result.output
    sheet = load_workbook(target).active
    assert sheet is not None
    names = [row[2] for row in sheet.iter_rows(min_row=5, max_row=7, values_only=True)]
    assert names == ["李四", '\'＝HYPERLINK("http://x")', "'\u200b=1+1"]

    csv_rows = list(csv.reader(io.StringIO(run("groupbuy", "export", codes["A"], "--config", str(config_file)).output)))
    assert [r[2] for r in csv_rows[1:4]] == names


def test_signup_fields_reach_the_xlsx_and_headers_are_chinese_by_default(
    config_file: Path, make_services: Callable[..., Services], clock: FrozenClock, tmp_path: Path
) -> None:
    bot = Bot(make_services(config_file), clock)
    deal = bot.open("草莓 价格=10 名额=9 截止=2小时 需要=自提点,电话", user="boss")
    assert "接龙成功" in bot.say(f"接龙 {deal.code} 2 自提点=东门 电话=13800000000", user="lisi")
    target = tmp_path / "fields.xlsx"
    result = run("groupbuy", "export", deal.code, "--format", "xlsx", "--output", str(target), "--config",
                 str(config_file))  # fmt: skip
    assert result.exit_code == 0, result.output
    sheet = load_workbook(target).active
    assert sheet is not None
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[3][-2:] == ["自提点", "电话"] and rows[4][-2:] == ["东门", "13800000000"]
    assert rows[4][8] == "已报名"
    chinese = list(csv.reader(io.StringIO(run("groupbuy", "export", deal.code, "--config", str(config_file)).output)))
    assert chinese[0][:4] == ["跟团号", "成员ID", "成员", "数量"] and chinese[0][-2:] == ["自提点", "电话"]
    english = run("groupbuy", "export", deal.code, "--lang", "en", "--config", str(config_file)).output
    assert english.lstrip("\ufeff").startswith("number,user_id,name,quantity")
    listed = run("groupbuy", "list", "--config", str(config_file))
    assert listed.exit_code == 0 and f"{deal.code}  草莓" in listed.output and "2/9" in listed.output
    as_csv = run("groupbuy", "list", "--format", "csv", "--config", str(config_file)).output
    assert as_csv.startswith("团号,标题,群")
