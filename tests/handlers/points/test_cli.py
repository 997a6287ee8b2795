"""`groupbot points …` as an operator uses it: audit the ledger, export it, settle redemptions."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot.cli.main import main
from models import ledger, rewards
from models.db import make_session_factory

AT = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
DAY = date(2026, 11, 22)


def run(*args: str) -> Result:
    environment = {"GROUPBOT_DATABASE_URL": None, "GROUPBOT_CONFIG": None}
    return CliRunner().invoke(main, list(args), env=environment, catch_exceptions=True)


def seed(engine: Engine) -> int:
    """Two members with points; one redeemed a bag. Returns the redemption id."""
    factory = make_session_factory(engine)
    with factory.begin() as session:
        for user, points in (("zhangsan", 500), ("lisi", 40)):
            ledger.post(
                session, user_id=user, delta=points, reason="checkin", key=f"checkin:{user}", actor=user, at=AT, day=DAY
            )
        taken = rewards.redeem(
            session,
            user_id="zhangsan",
            chat_id="wrA",
            code="A01",
            name="定制帆布袋",
            cost=300,
            stock=5,
            per_member_limit=1,
            at=AT,
            day=DAY,
        )
        assert taken.redemption is not None
        return taken.redemption.id


def test_audit_passes_on_a_consistent_ledger(config_file: Path, engine: Engine) -> None:
    seed(engine)
    result = run("points", "audit", "--config", str(config_file))
    assert result.exit_code == 0, result.output
    assert "OK: 2 accounts, 3 ledger rows" in result.output


def test_audit_fails_and_names_the_member_whose_balance_was_tampered(config_file: Path, engine: Engine) -> None:
    """A balance changed by raw SQL behind the ledger's back makes the audit exit 1 and name that member only."""
    seed(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE points_accounts SET balance = 9999 WHERE user_id = 'lisi'"))
    result = run("points", "audit", "--config", str(config_file))
    assert result.exit_code == 1
    assert "MISMATCH lisi: balance 9999 but ledger sums to 40" in result.output
    assert "zhangsan" not in result.output


def test_export_writes_excel_friendly_csvs(config_file: Path, engine: Engine, tmp_path: Path) -> None:
    """ledger.csv and redemptions.csv start with a BOM, keep Chinese text, and show local times."""
    rid = seed(engine)
    out = tmp_path / "export"
    result = run("points", "export", "--lang", "en", "--config", str(config_file), "--out", str(out))
    assert result.exit_code == 0, result.output
    raw = (out / "ledger.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with (out / "ledger.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["user_id"], r["delta"], r["reason"]) for r in rows] == [
        ("zhangsan", "500", "checkin"),
        ("lisi", "40", "checkin"),
        ("zhangsan", "-300", "redeem"),
    ]
    assert rows[0]["created_at"] == "2026-11-22T10:00:00+08:00"
    assert rows[2]["note"] == "A01 定制帆布袋"
    with (out / "redemptions.csv").open(encoding="utf-8-sig", newline="") as fh:
        (redemption,) = list(csv.DictReader(fh))
    assert (redemption["id"], redemption["reward"], redemption["status"]) == (str(rid), "定制帆布袋", "pending")
    # By default the ops team reads Chinese headers, with member and group names beside the ids.
    run("points", "export", "--config", str(config_file), "--out", str(out))
    with (out / "ledger.csv").open(encoding="utf-8-sig", newline="") as fh:
        chinese = list(csv.DictReader(fh))
    assert list(chinese[0])[:5] == ["序号", "时间", "业务日", "成员ID", "成员"]
    assert (chinese[0]["成员ID"], chinese[0]["积分变动"], chinese[0]["群"]) == ("zhangsan", "500", "")


def test_import_of_opening_balances_dry_runs_then_credits_once(
    config_file: Path, engine: Engine, tmp_path: Path
) -> None:
    seed(engine)
    sheet = tmp_path / "opening.csv"
    sheet.write_text("成员ID,积分,备注\nwangwu,120,旧系统余额\nlisi,60,\n", encoding="utf-8-sig")
    dry = run("points", "import", str(sheet), "--dry-run", "--config", str(config_file))
    assert dry.exit_code == 0, dry.output
    assert "would credit 2 member(s), 180 points" in dry.output and "wangwu +120" in dry.output
    factory = make_session_factory(engine)
    with factory() as session:
        assert ledger.account_of(session, "wangwu") == (0, 0)
    done = run("points", "import", str(sheet), "--config", str(config_file))
    assert done.exit_code == 0 and "credited 2 member(s), 180 points" in done.output
    again = run("points", "import", str(sheet), "--config", str(config_file))
    assert "credited 0 member(s), 0 points; 2 already imported" in again.output
    with factory() as session:
        assert ledger.account_of(session, "wangwu")[0] == 120 and ledger.account_of(session, "lisi")[0] == 100
    assert run("points", "audit", "--config", str(config_file)).exit_code == 0
    # XLSX works too, with English headers; a bad row stops the whole file.
    from openpyxl import Workbook

    book = Workbook()
    rows = book.active
    assert rows is not None
    rows.append(["user_id", "points"])
    rows.append(["zhaoliu", 30])
    rows.append(["sunqi", "lots"])
    book.save(tmp_path / "more.xlsx")
    bad = run("points", "import", str(tmp_path / "more.xlsx"), "--config", str(config_file))
    assert bad.exit_code == 1 and "line 3" in bad.output and "nothing imported" in bad.output
    with factory() as session:
        assert ledger.account_of(session, "zhaoliu") == (0, 0)


def test_cancel_from_cli_refunds_once_and_fulfil_after_is_refused(config_file: Path, engine: Engine) -> None:
    rid = seed(engine)
    listed = run("points", "redemptions", "--config", str(config_file), "--status", "pending")
    assert f"#{rid} pending" in listed.output

    cancelled = run("points", "cancel", str(rid), "--config", str(config_file), "--by", "admin01")
    assert cancelled.exit_code == 0, cancelled.output
    assert "cancelled; 300 points refunded" in cancelled.output
    again = run("points", "fulfil", str(rid), "--config", str(config_file))
    assert again.exit_code == 1
    assert "already cancelled; nothing changed" in again.output
    missing = run("points", "cancel", "999", "--config", str(config_file))
    assert missing.exit_code == 1 and "no redemption #999" in missing.output

    with make_session_factory(engine)() as session:
        assert ledger.account_of(session, "zhangsan") == (500, 500)
        assert rewards.remaining(session, ["A01"]) == {"A01": 5}
        assert ledger.audit(session) == []


def test_export_neutralises_formulas_in_free_text(config_file: Path, engine: Engine, tmp_path: Path) -> None:
    """A reason typed in chat that Excel would run (=, +, -, @, tab, CR first) is exported as plain text."""
    factory = make_session_factory(engine)
    notes = ['=HYPERLINK("http://x","点我")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rx", "活动奖励"]
    with factory.begin() as session:
        for i, note in enumerate(notes):
            ledger.post(session, user_id="lisi", delta=5, reason="manual", key=f"manual:{i}", actor="guide01",
                        at=AT, day=DAY, note=note)  # fmt: skip
        ledger.post(session, user_id="lisi", delta=-5, reason="manual", key="manual:minus", actor="=guide",
                    at=AT, day=DAY, note="扣分")  # fmt: skip
    out = tmp_path / "export"
    result = run("points", "export", "--lang", "en", "--config", str(config_file), "--out", str(out))
    assert result.exit_code == 0, result.output
    with (out / "ledger.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["note"] for r in rows[:-1]] == [f"'{n}" for n in notes[:-1]] + ["活动奖励"]
    # Numbers stay numbers: a debit is still -5, not the text '-5; the actor is text and is neutralised.
    assert (rows[-1]["delta"], rows[-1]["actor"]) == ("-5", "'=guide")


def test_settling_an_impossible_number_is_a_usage_error(config_file: Path, engine: Engine) -> None:
    """No traceback (SQLite cannot even bind 20 digits): the operator is told the number is out of range."""
    seed(engine)
    for command in ("fulfil", "cancel"):
        result = run("points", command, "99999999999999999999", "--config", str(config_file))
        assert result.exit_code == 2, result.output
        assert "99999999999999999999 is not in the range 1<=x<=2147483647" in result.output
