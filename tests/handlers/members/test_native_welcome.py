"""Native welcome: `groupbot welcome sync` writes each customer group's welcome to WeCom's 入群欢迎语 template
(add, then edit only when the text changed); check-config reports the state; no task is spent on a join."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy.engine import Engine

from bot.clock import FrozenClock
from bot.services import Services
from tests.conftest import base_config, write_yaml
from tests.fake_wecom import CORP_ID, SECRET, FakeWecom, start_fake_wecom
from tests.handlers.members.chat import CUSTOMER, GROUPS, TEAM, make_group_bot

TEMPLATES = "externalcontact/group_welcome_template"


def run(*args: str) -> Result:
    from bot.cli.main import main

    return CliRunner().invoke(main, list(args), env={"GROUPBOT_DATABASE_URL": None, "GROUPBOT_CONFIG": None})


@pytest.fixture
def fake() -> Iterator[FakeWecom]:
    fake, server, thread = start_fake_wecom()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def native_config(tmp_path: Path, database_url: str, fake: FakeWecom, welcome: str | None = None) -> Path:
    data: dict[str, Any] = base_config(database_url)
    data["wecom"].update({"corp_id": CORP_ID, "secret": SECRET, "api_base": fake.base_url})
    groups = [dict(g) for g in GROUPS]
    for group in groups:
        if group["chat_id"] == CUSTOMER and welcome is not None:
            group["welcome"] = welcome
    data["groups"] = groups
    data["members"] = {"welcome": {"mode": "native"}}
    return write_yaml(tmp_path / "native.yaml", data)


def test_sync_adds_then_edits_on_change_and_check_config_reports_it(
    tmp_path: Path, engine: Engine, database_url: str, fake: FakeWecom
) -> None:
    config = native_config(tmp_path, database_url, fake)
    before = run("check-config", "--config", str(config))
    assert f"({CUSTOMER}): not synced" in before.output and "groupbot welcome sync" in before.output

    first = run("welcome", "sync", "--config", str(config))
    assert first.exit_code == 0, first.output
    assert "added as tpl-" in first.output
    (added,) = fake.bodies(f"{TEMPLATES}/add")
    assert added is not None and "%NICKNAME%" in added["text"]["content"] and "{names}" not in added["text"]["content"]

    again = run("welcome", "sync", "--config", str(config))
    assert "unchanged" in again.output and len(fake.calls_to(f"{TEMPLATES}/edit")) == 0
    assert "synced as tpl-" in run("check-config", "--config", str(config)).output

    changed = native_config(tmp_path, database_url, fake, welcome="欢迎 {names}！来「{group}」抢团购")
    assert "out of date" in run("check-config", "--config", str(changed)).output
    edited = run("welcome", "sync", "--config", str(changed))
    assert edited.exit_code == 0 and "edited" in edited.output
    (edit,) = fake.bodies(f"{TEMPLATES}/edit")
    template_id = next(iter(fake.welcome_templates))
    assert edit is not None and edit["template_id"] == template_id
    assert edit["text"]["content"] == "欢迎 %NICKNAME%！来「社区福利1群」抢团购"
    assert len(fake.calls_to(f"{TEMPLATES}/add")) == 1


def test_sync_reports_a_refusal_and_exits_1(tmp_path: Path, engine: Engine, database_url: str, fake: FakeWecom) -> None:
    fake.always(f"{TEMPLATES}/add", errcode=48002)
    result = run("welcome", "sync", "--config", str(native_config(tmp_path, database_url, fake)))
    assert result.exit_code == 1 and "failed: errcode 48002" in result.output


def test_native_mode_queues_no_task_for_a_customer_join_but_still_welcomes_internal_groups(
    make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock
) -> None:
    """WeCom greets the customer group itself: the join is recorded, nothing is queued; the team group still
    gets the bot's welcome."""
    bot = make_group_bot(make_services, tmp_path, clock, members={"welcome": {"mode": "native"}})
    assert bot.join(CUSTOMER, ["wmAlice"]) == 200
    assert bot.membership(CUSTOMER, "wmAlice") is not None and bot.outbox() == []
    assert bot.join(TEAM, ["zhangsan"]) == 200
    assert [row.target for row in bot.outbox()] == [TEAM]
