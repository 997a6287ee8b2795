"""The `groupbot` command line as an operator uses it: db upgrade, outbox, chat, check-config."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from bot.cli.main import main
from bot.clock import FrozenClock
from bot.events import Event
from bot.services import Services
from models import OutboxMessage, ProcessedEvent, migrate
from models import outbox as outbox_rows
from models.db import make_engine
from tests.conftest import base_config, count_rows, write_yaml

UPGRADE_HINT = "groupbot db upgrade"


def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    # GROUPBOT_DATABASE_URL from the developer's shell must not redirect the command to another database.
    environment = {"GROUPBOT_DATABASE_URL": None, "GROUPBOT_CONFIG": None, **(env or {})}
    return CliRunner().invoke(main, list(args), input=input, env=environment, catch_exceptions=True)


def output_of(result: Result) -> str:
    """Everything the user saw on the terminal: click >= 8.2 interleaves stdout and stderr here."""
    return result.output


def app_text_event(services: Services, text: str, user: str, msg_id: str) -> Event:
    return Event(
        kind="text", source="app", user_id=user, chat_id=None, at=services.clock.now(), text=text, msg_id=msg_id
    )


# --- db upgrade ---------------------------------------------------------------------------------


def test_db_upgrade_creates_schema_on_fresh_sqlite_and_is_idempotent(tmp_path: Path) -> None:
    """`groupbot db upgrade` on a new SQLite file creates the tables, names the revision, and can run again."""
    db_file = tmp_path / "fresh" / "groupbot.db"
    config = write_yaml(tmp_path / "config.yaml", base_config(f"sqlite:///{db_file}"))
    head = migrate.head_revision()
    assert head

    first = run("db", "upgrade", "--config", str(config))
    assert first.exit_code == 0, output_of(first)
    assert f"is at revision {head}" in first.output
    engine = make_engine(f"sqlite:///{db_file}")
    try:
        tables = set(inspect(engine).get_table_names())
        assert {"outbox", "processed_events", "alembic_version"} <= tables
        assert migrate.is_up_to_date(engine)
    finally:
        engine.dispose()

    second = run("db", "upgrade", "--config", str(config))
    assert second.exit_code == 0, output_of(second)
    assert f"is at revision {head}" in second.output


def test_db_upgrade_honours_database_url_from_environment(tmp_path: Path) -> None:
    """GROUPBOT_DATABASE_URL overrides the file's database_url, so the operator migrates the database they named."""
    in_file = tmp_path / "from-file.db"
    from_env = tmp_path / "from-env.db"
    config = write_yaml(tmp_path / "config.yaml", base_config(f"sqlite:///{in_file}"))

    result = run("db", "upgrade", "--config", str(config), env={"GROUPBOT_DATABASE_URL": f"sqlite:///{from_env}"})
    assert result.exit_code == 0, output_of(result)
    assert "from-env.db" in result.output
    assert from_env.exists()
    assert not in_file.exists()


# --- outbox -------------------------------------------------------------------------------------


@pytest.fixture
def three_rows(services: Services, engine: Engine, clock: FrozenClock) -> list[int]:
    """Three replies queued by real app-channel events: oldest sent, middle failed, newest pending."""
    for n, user in enumerate(["alice", "bob", "carol"]):
        outcome = services.dispatcher.handle(app_text_event(services, "帮助", user, msg_id=f"9000{n}"))
        assert outcome.queued == 1
        # Distinct creation times make "newest first" observable in the timestamps too.
        clock.advance(minutes=1)
    with services.session_factory.begin() as session:
        claimed = outbox_rows.claim_due(
            session, worker="test-worker", now=services.clock.now(), limit=2, reclaim_after=timedelta(minutes=5)
        )
        ids = [row.id for row in claimed]
        assert [row.target for row in claimed] == ["alice", "bob"]
        assert outbox_rows.mark_sent(session, ids[0], "test-worker", services.clock.now())
        assert outbox_rows.mark_failed(session, ids[1], "test-worker", "errcode 60020: not allow to access")
    assert count_rows(engine, OutboxMessage) == 3
    with services.session_factory() as session:
        return [row.id for row in outbox_rows.list_messages(session)]


def test_outbox_lists_rows_newest_first(config_file: Path, three_rows: list[int]) -> None:
    """`groupbot outbox` shows every row, newest first, with status, target and the message text."""
    result = run("outbox", "--config", str(config_file))
    assert result.exit_code == 0, output_of(result)
    lines = [line for line in result.output.splitlines() if line.startswith("#")]
    assert len(lines) == 3
    assert [line.split()[0] for line in lines] == [f"#{i}" for i in three_rows]
    assert "pending" in lines[0] and "→ carol" in lines[0]
    assert "failed" in lines[1] and "→ bob" in lines[1] and "errcode 60020" in lines[1]
    assert "sent" in lines[2] and "→ alice" in lines[2]
    assert all("我能帮你做这些" in line for line in lines)
    # Stored in UTC, shown in the configured Asia/Shanghai time.
    assert all("+08:00" in line for line in lines)


def test_outbox_status_filter_shows_only_that_status(config_file: Path, three_rows: list[int]) -> None:
    """`--status failed` lists the parked row and nothing else."""
    result = run("outbox", "--config", str(config_file), "--status", "failed")
    assert result.exit_code == 0, output_of(result)
    lines = [line for line in result.output.splitlines() if line.startswith("#")]
    assert len(lines) == 1
    assert "→ bob" in lines[0] and "failed" in lines[0]


def test_outbox_json_is_one_object_per_line_in_config_timezone(
    config_file: Path, three_rows: list[int], services: Services
) -> None:
    """`--json` prints one JSON object per row with target, status, payload and local times."""
    result = run("outbox", "--config", str(config_file), "--json")
    assert result.exit_code == 0, output_of(result)
    records = [json.loads(line) for line in result.output.splitlines() if line.strip()]
    assert [r["id"] for r in records] == three_rows
    assert [(r["target"], r["status"]) for r in records] == [("carol", "pending"), ("bob", "failed"), ("alice", "sent")]
    assert all(r["target_kind"] == "user" and r["channel"] == "app_message" for r in records)
    assert all(r["payload"]["content"].startswith("我能帮你做这些") for r in records)
    # The frozen clock started at 02:00 UTC, i.e. 10:00 in Shanghai; rows were queued a minute apart.
    assert [r["created_at"] for r in records] == [
        "2026-11-22T10:02:00+08:00",
        "2026-11-22T10:01:00+08:00",
        "2026-11-22T10:00:00+08:00",
    ]
    sent = records[2]
    assert sent["sent_at"] is not None and sent["sent_at"].endswith("+08:00")
    assert records[0]["sent_at"] is None
    assert records[1]["last_error"] == "errcode 60020: not allow to access"


def test_outbox_json_with_status_filter(config_file: Path, three_rows: list[int]) -> None:
    """`--status sent --json` prints exactly the delivered row."""
    result = run("outbox", "--config", str(config_file), "--status", "sent", "--json")
    assert result.exit_code == 0, output_of(result)
    records = [json.loads(line) for line in result.output.splitlines() if line.strip()]
    assert [(r["target"], r["status"]) for r in records] == [("alice", "sent")]


def test_outbox_empty_says_so(config_file: Path, engine: Engine) -> None:
    """An empty outbox is reported in words, not as silence; a filtered empty list names the status."""
    result = run("outbox", "--config", str(config_file))
    assert result.exit_code == 0, output_of(result)
    assert result.output.strip() == "no outbox rows"

    filtered = run("outbox", "--config", str(config_file), "--status", "failed")
    assert filtered.exit_code == 0, output_of(filtered)
    assert filtered.output.strip() == "no outbox rows with status failed"


def test_outbox_rejects_unknown_status(config_file: Path, engine: Engine) -> None:
    """A typo in --status is a usage error, not an empty list."""
    result = run("outbox", "--config", str(config_file), "--status", "lost")
    assert result.exit_code == 2
    assert "lost" in output_of(result)


# --- chat ---------------------------------------------------------------------------------------


def test_chat_rehearses_help_keywords_and_role_switch(config_file: Path, engine: Engine) -> None:
    """`groupbot chat` answers 帮助 and keyword text in the terminal and switches speaker with /user."""
    result = run("chat", "--config", str(config_file), input="帮助\n发货\n/user guide01\n帮助\n/quit\n")
    assert result.exit_code == 0, output_of(result)
    out = result.output
    bot_lines = [line for line in out.splitlines() if line.startswith("机器人> ")]
    assert bot_lines[0] == "机器人> 我能帮你做这些（发送指令即可）："
    assert "机器人> 48小时内发货" in bot_lines
    assert "(现在以 guide01 的身份发言，角色：guide)" in out
    # The second 帮助 (as guide01) answers after the role switch.
    assert out.index("(现在以 guide01") < out.rindex("我能帮你做这些")
    assert out.count("我能帮你做这些") == 2
    # Same router and database as the service: each line is a handled event; console replies are passive.
    assert count_rows(engine, ProcessedEvent) == 3
    assert count_rows(engine, OutboxMessage) == 0


def test_chat_shows_what_a_command_queues_for_the_group(tmp_path: Path, database_url: str, engine: Engine) -> None:
    """A guide rehearsing 竞猜 sees the result the group would get, though the close queues it under its own origin."""
    config = base_config(database_url)
    config["quiz"] = {"questions": [{"id": "q1", "question": "几点截单？", "answers": ["12点"], "explain": "中午"}]}
    # The rehearsed group is guide01's (guides act in their own groups); quiet hours would hold the result.
    config["groups"] = [{"chat_id": "rehearsal-group", "name": "演练群", "guide": "guide01"}]
    config["outbound"] = {"quiet_hours": {"enabled": False}}
    path = write_yaml(tmp_path / "config.yaml", config)
    result = run(
        "chat",
        "--config",
        str(path),
        "--user",
        "guide01",
        input="竞猜 开始 q1 60\n/user lisi\n12点\n/user guide01\n竞猜 结束\n",
    )
    assert result.exit_code == 0, output_of(result)
    queued = [line for line in result.output.splitlines() if line.startswith("(待发送")]
    assert len(queued) == 1, result.output
    # The group by its name, and the route its push takes (console: printed by the service, not sent).
    assert "只打印在服务日志里，不会发到群里) → 演练群: 【竞猜结果】几点截单？" in queued[0]
    shown = result.output[result.output.index(queued[0]) :]
    assert "正确答案：12点" in shown and "lisi" in shown, shown
    assert count_rows(engine, OutboxMessage) == 1


def test_chat_stops_at_quit(config_file: Path, engine: Engine) -> None:
    """Lines after /quit are not sent to the bot."""
    result = run("chat", "--config", str(config_file), input="/quit\n帮助\n")
    assert result.exit_code == 0, output_of(result)
    assert "我能帮你做这些" not in result.output
    assert count_rows(engine, ProcessedEvent) == 0


# --- unmigrated database, bad config ------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        (("chat",), "帮助\n"),
        (("drain", "--once"), None),
        (("outbox",), None),
    ],
    ids=["chat", "drain", "outbox"],
)
def test_command_on_unmigrated_database_tells_user_to_upgrade(
    tmp_path: Path, args: tuple[str, ...], stdin: str | None
) -> None:
    """A command run before `groupbot db upgrade` exits non-zero and says what to run, without a traceback."""
    db_file = tmp_path / "never-migrated.db"
    config = write_yaml(tmp_path / "config.yaml", base_config(f"sqlite:///{db_file}"))
    result = run(*args, "--config", str(config), input=stdin)
    assert result.exit_code != 0
    assert UPGRADE_HINT in output_of(result)
    assert "Traceback" not in output_of(result)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    engine = make_engine(f"sqlite:///{db_file}")
    try:
        # Nothing was created behind the operator's back: the schema is still unmigrated.
        assert migrate.current_revision(engine) is None
        assert "processed_events" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_check_config_missing_file_exits_2_with_clear_message(tmp_path: Path) -> None:
    """check-config on a file that does not exist names the file and says it cannot be read."""
    missing = tmp_path / "nope.yaml"
    result = run("check-config", "--config", str(missing))
    assert result.exit_code == 2
    out = output_of(result)
    assert f"{missing}:1:1: cannot read the file" in out
    assert "No such file" in out
    assert "OK" not in result.output


def test_check_config_reports_error_position_and_exits_2(tmp_path: Path) -> None:
    """An invalid value is reported as file:line:column: path: message, and the command fails."""
    config = tmp_path / "config.yaml"
    config.write_text(
        "timezone: Asia/Shanghai\n"
        "keywords:\n"
        "  - match: [发货]\n"
        "    reply: ok\n"
        "  - match: [快递]\n",  # line 5: the rule without a reply
        encoding="utf-8",
    )
    result = run("check-config", "--config", str(config))
    assert result.exit_code == 2
    assert f"{config}:5:5: keywords[1].reply: field required" in result.output
    assert "OK" not in result.output


def test_check_config_good_file_reports_channels(config_file: Path) -> None:
    """A valid file passes and says each channel is ready."""
    result = run("check-config", "--config", str(config_file))
    assert result.exit_code == 0, output_of(result)
    assert f"{config_file}: OK" in result.output
    assert "app callback /wecom/callback: ready" in result.output
    assert "aibot callback /wecom/aibot: ready" in result.output
    assert "command 帮助" in result.output
