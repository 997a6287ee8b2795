"""`groupbot send`: an announcement queued through each group's push route, as an operator runs it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.engine import Engine

from models import OutboxMessage
from models.db import make_session_factory
from tests.conftest import base_config, write_yaml

GROUPS: list[dict[str, Any]] = [
    {"chat_id": "wr-team", "name": "内部群", "tags": ["员工"], "push": "webhook", "webhook_key": "k1"},
    {"chat_id": "wr-bot", "name": "机器人群", "tags": ["员工"], "push": "aibot"},
    {"chat_id": "wr-c1", "name": "福利1群", "kind": "customer", "guide": "guide01", "push": "customer_task"},
]


def run(*args: str) -> Result:
    from bot.cli.main import main

    return CliRunner().invoke(main, list(args), env={"GROUPBOT_DATABASE_URL": None, "GROUPBOT_CONFIG": None})


def config(tmp_path: Path, database_url: str) -> Path:
    return write_yaml(tmp_path / "send.yaml", {**base_config(database_url), "groups": GROUPS})


def rows(engine: Engine) -> list[OutboxMessage]:
    with make_session_factory(engine)() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_send_by_tag_queues_one_push_per_group_and_says_where(
    tmp_path: Path, engine: Engine, database_url: str
) -> None:
    result = run("send", "--tag", "员工", "今晚八点开团", "--config", str(config(tmp_path, database_url)))
    assert result.exit_code == 0, result.output
    queued = rows(engine)
    assert [(r.channel, r.target, r.payload["content"], r.payload["purpose"]) for r in queued] == [
        ("group", "wr-team", "今晚八点开团", "push"),
        ("group", "wr-bot", "今晚八点开团", "push"),
    ]
    assert "→ 内部群 (wr-team) via webhook: 1 message" in result.output
    assert "→ 机器人群 (wr-bot) via aibot" in result.output and "queued 2 announcement(s)" in result.output


def test_send_all_now_markdown_skips_quiet_hours_only_for_internal_groups(
    tmp_path: Path, engine: Engine, database_url: str
) -> None:
    long_text = "\n".join(f"{n}. 团员{n}" for n in range(400))
    result = run("send", "--all", "--now", "--markdown", long_text, "--config", str(config(tmp_path, database_url)))
    assert result.exit_code == 0, result.output
    purposes = {r.target: (r.payload["purpose"], r.payload["msgtype"]) for r in rows(engine)}
    assert purposes == {
        "wr-team": ("urgent", "markdown"),
        "wr-bot": ("urgent", "markdown"),
        "wr-c1": ("push", "markdown"),
    }
    assert "via webhook: 2 messages" in result.output and "via customer_task: 1 message" in result.output
    assert "--now does not apply to customer groups" in result.output


def test_send_to_an_unknown_group_is_a_usage_error_and_queues_nothing(
    tmp_path: Path, engine: Engine, database_url: str
) -> None:
    result = run("send", "--group", "不存在", "hi", "--config", str(config(tmp_path, database_url)))
    assert result.exit_code == 2 and "no group named 不存在" in result.output
    assert rows(engine) == []
