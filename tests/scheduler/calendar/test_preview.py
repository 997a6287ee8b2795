"""`groupbot calendar preview`: per day, what goes where and how, and which customer groups run out of tasks."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy.engine import Engine

from bot.cli.main import main
from bot.transports.limiter import window
from models import outbox as outbox_rows
from models import rate_limit
from scheduler.calendar.preview import plan
from tests.conftest import write_yaml
from tests.scheduler.harness import GROUPS, SHANGHAI, factory_for, local, make_config

DAILY_CUSTOMER = {"id": "morning", "when": {"time": "10:00"}, "to": {"tags": ["福利"]}, "content": {"text": "早安福利"}}
LATE_TEAM = {
    "id": "late",
    "when": {"weekdays": ["sat", "sun"], "time": "23:00"},
    "to": {"groups": ["wr-team"]},
    "content": {"markdown": "**周末夜读**"},
}


def test_plan_counts_customer_groups_against_the_months_cap_including_what_was_spent(engine: Engine) -> None:
    """28 tasks spent this November and one welcome waiting: the 29th and 30th calendar tasks exceed the 30-day cap."""
    factory = factory_for(engine)
    config = make_config([DAILY_CUSTOMER, LATE_TEAM])
    now = local(2026, 11, 28, 9, 0)
    start = window("month", now, SHANGHAI)
    with factory.begin() as session:
        assert rate_limit.spend(session, "customer_task:wr-cust/month", start[0], start[1], 30, cost=28)
        outbox_rows.add_message(
            session, channel="group", target_kind="chat", target="wr-cust", payload={"content": "欢迎"}, now=now
        )
    with factory() as session:
        days = plan(session, config, now, 4)

    assert [day.day.isoformat() for day in days] == ["2026-11-28", "2026-11-29", "2026-11-30", "2026-12-01"]
    customer = [(p.at.date().isoformat(), p.cap_note) for day in days for p in day.posts if p.chat_id == "wr-cust"]
    assert customer == [
        ("2026-11-28", ""),
        ("2026-11-29", "over the monthly cap: task 31 of 30 this month"),
        ("2026-11-30", "over the monthly cap: task 32 of 30 this month"),
        ("2026-12-01", ""),  # a new month, a new budget
    ]
    team = [p for day in days for p in day.posts if p.chat_id == "wr-team"]
    assert [(p.at.strftime("%m-%d %H:%M"), p.msgtype, p.cap_note) for p in team] == [
        ("11-28 23:00", "markdown", ""),
        ("11-29 23:00", "markdown", ""),
    ]
    # 23:00 is inside the default quiet hours (22:00-08:00): the outbox holds it until 08:00 the next morning.
    assert [p.quiet_until.strftime("%m-%d %H:%M") for p in team if p.quiet_until] == ["11-29 08:00", "11-30 08:00"]
    assert {p.transport for p in team} == {"webhook (printed only: outbox.transport is console)"}


def test_preview_command_prints_days_groups_transports_and_flags_the_cap(
    tmp_path: Path, engine: Engine, database_url: str
) -> None:
    config = {
        "database_url": database_url,
        "roles": {"guides": ["guide01"]},
        "groups": GROUPS,
        "outbound": {"limits": {"customer_task_per_month": 1}},
        "outbox": {"transport": "console"},
        "calendar": [DAILY_CUSTOMER],
    }
    path = write_yaml(tmp_path / "config.yaml", config)
    env = {"GROUPBOT_DATABASE_URL": None, "GROUPBOT_CONFIG": None}
    result = CliRunner().invoke(main, ["calendar", "preview", "--config", str(path), "--days", "7"], env=env)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    day_lines = [line for line in lines if line[:4].isdigit()]
    assert len(day_lines) == 7 and all(line.split()[1].startswith("周") for line in day_lines)
    post_lines = [line for line in lines if "morning → 福利群 (wr-cust) via customer_task" in line]
    assert len(post_lines) >= 6 and all("text: 早安福利" in line for line in post_lines)
    assert any("OVER CAP: over the monthly cap: task 2 of 1 this month" in line for line in post_lines)
    assert "would exceed a customer group's monthly task cap" in result.output


def test_preview_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "config.yaml", {"database_url": f"sqlite:///{tmp_path}/empty.db"})
    env = {"GROUPBOT_DATABASE_URL": None, "GROUPBOT_CONFIG": None}
    result = CliRunner().invoke(main, ["calendar", "preview", "--config", str(path)], env=env)
    assert result.exit_code == 2 and "groupbot db upgrade" in result.output
