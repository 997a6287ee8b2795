"""`groupbot report reactivation`, `groupbot reactivation run-once` and the check-config line, as operators see them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy.engine import Engine

from bot.cli.main import main
from models import nudge
from models.db import make_session_factory
from models.membership import join
from tests.bot.test_features import CUSTOMER, TEAM, features
from tests.conftest import base_config, count_rows, write_yaml


def run(*args: str) -> Result:
    environment = {"GROUPBOT_DATABASE_URL": None, "GROUPBOT_CONFIG": None}
    return CliRunner().invoke(main, list(args), env=environment, catch_exceptions=True)


def spell(session, user: str, at: datetime, *, held: bool, back_after: timedelta | None, step: int = 1) -> None:  # type: ignore[no-untyped-def]
    member = nudge.Dormant("wrTeam", user, at - timedelta(days=7), None)
    outcome = nudge.HOLDOUT if held else nudge.SENT
    assert nudge.record(session, member, step=step, action="group_mention", outcome=outcome, holdout=held, at=at)
    if back_after is not None:
        nudge.note_comeback(session, chat_id="wrTeam", user_id=user, at=at + back_after)


def test_report_shows_nudged_and_holdout_with_rates(tmp_path: Path, engine: Engine, database_url: str) -> None:
    now = datetime.now(UTC)
    with make_session_factory(engine).begin() as session:
        for index in range(4):
            back = timedelta(days=2) if index < 3 else None
            spell(session, f"n{index}", now - timedelta(days=5), held=False, back_after=back)
        spell(session, "h0", now - timedelta(days=5), held=True, back_after=timedelta(days=1))
        spell(session, "h1", now - timedelta(days=5), held=True, back_after=None)
        # Outside a 30-day window: not counted.
        spell(session, "old", now - timedelta(days=40), held=False, back_after=timedelta(days=1))
    config = write_yaml(tmp_path / "config.yaml", {**base_config(database_url), "groups": [TEAM]})
    result = run("report", "reactivation", "--config", str(config), "--days", "30")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("nudged") and " 4 members" in line and " 3 active again" in line for line in lines)
    assert any("(75.0%)" in line for line in lines if line.startswith("nudged"))
    assert any(line.startswith("holdout") and "(50.0%)" in line for line in lines)
    assert "lift      +25.0 percentage points" in result.output
    assert "step 1 (group_mention): 4 sent" in result.output
    wider = run("report", "reactivation", "--config", str(config), "--days", "60")
    assert any(line.startswith("nudged") and " 5 members" in line for line in wider.output.splitlines())


def test_report_with_nothing_recorded_shows_no_rates(tmp_path: Path, engine: Engine, database_url: str) -> None:
    config = write_yaml(tmp_path / "config.yaml", base_config(database_url))
    result = run("report", "reactivation", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert "0 members" in result.output and "(-)" in result.output and "lift" not in result.output


def test_report_rejects_a_bad_window(tmp_path: Path, engine: Engine, database_url: str) -> None:
    config = write_yaml(tmp_path / "config.yaml", base_config(database_url))
    result = run("report", "reactivation", "--config", str(config), "--days", "0")
    assert result.exit_code == 2 and "--days" in result.output


def test_run_once_nudges_a_dormant_member_once(tmp_path: Path, engine: Engine, database_url: str) -> None:
    ladder = [{"after_days": 7, "action": "tell_guide"}]
    settings = {"enabled": True, "ladder": ladder, "quiet_hours": {"enabled": False}, "holdout_percent": 0}
    data = {**base_config(database_url), "groups": [TEAM], "reactivation": settings}
    config = write_yaml(tmp_path / "config.yaml", data)
    with make_session_factory(engine).begin() as session:
        join(session, chat_id="wrTeam", user_id="zhangsan", at=datetime.now(UTC) - timedelta(days=8), guide="guide01")
    first = run("reactivation", "run-once", "--config", str(config))
    assert first.exit_code == 0, first.output
    assert first.output.startswith("nudged 1 (step 1: 1)")
    again = run("reactivation", "run-once", "--config", str(config))
    assert again.output.startswith("nudged 0 (none)")
    assert count_rows(engine, nudge.Nudge) == 1


def test_run_once_when_disabled_says_so(tmp_path: Path, engine: Engine, database_url: str) -> None:
    config = write_yaml(tmp_path / "config.yaml", base_config(database_url))
    result = run("reactivation", "run-once", "--config", str(config))
    assert result.exit_code == 0 and "reactivation is off" in result.output


def test_check_config_says_what_each_step_does_per_group_kind(tmp_path: Path) -> None:
    found = features(tmp_path, {**TEAM, "webhook_key": "k"}, CUSTOMER, reactivation={"enabled": True})
    assert found["团长群"]["reactivation"] == ("live - day 7: @ in the group; day 14: 1:1 note; day 30: tell the guide")
    assert found["福利群"]["reactivation"].startswith(
        "degraded - day 7: skipped (tasks cannot @); day 14: 1:1 note (customers: via their guide)"
    )
    assert found["福利群"]["reactivation"].endswith(
        "activity seen: joins and 1:1 use of the bot (no bot hears the group)"
    )
    off = features(tmp_path, TEAM)
    assert off["团长群"]["reactivation"] == "off - reactivation.enabled is false"
