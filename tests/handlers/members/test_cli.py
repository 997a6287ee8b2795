"""`groupbot groups` as an operator reads it: configured and discovered groups with their member figures."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy.engine import Engine

from models.db import make_session_factory
from models.membership import dismiss, join, leave, set_group_name
from tests.conftest import base_config, write_yaml
from tests.handlers.members.chat import CUSTOMER, GROUPS, TEAM


def run(*args: str) -> Result:
    from bot.cli.main import main

    environment = {"GROUPBOT_DATABASE_URL": None, "GROUPBOT_CONFIG": None}
    return CliRunner().invoke(main, list(args), env=environment, catch_exceptions=True)


def config_with_groups(tmp_path: Path, database_url: str) -> Path:
    return write_yaml(tmp_path / "groups.yaml", {**base_config(database_url), "groups": GROUPS})


def test_groups_lists_configured_and_discovered(tmp_path: Path, engine: Engine, database_url: str) -> None:
    """Members now and the last 7 days' joins and leaves per group; a chat only heard of is marked discovered."""
    now = datetime.now(UTC)
    with make_session_factory(engine).begin() as session:
        join(session, chat_id=CUSTOMER, user_id="wmOld", at=now - timedelta(days=20), guide="guide01")
        for user in ("wmA", "wmB", "wmC"):
            join(session, chat_id=CUSTOMER, user_id=user, at=now - timedelta(days=2), guide="guide01")
        leave(session, chat_id=CUSTOMER, user_id="wmC", at=now - timedelta(days=1))
        join(session, chat_id="wrHeardOf", user_id="wmX", at=now - timedelta(hours=1), guide=None)
        set_group_name(session, "wrHeardOf", "路人群", now)
        dismiss(session, chat_id="wrGone", at=now)
    result = run("groups", "--json", "--config", str(config_with_groups(tmp_path, database_url)))
    assert result.exit_code == 0, result.output
    lines = {row["chat_id"]: row for row in map(json.loads, result.output.splitlines())}
    assert list(lines) == [CUSTOMER, TEAM, "wrHeardOf", "wrGone"]
    customer = lines[CUSTOMER]
    assert (customer["name"], customer["kind"], customer["configured"]) == ("社区福利1群", "customer", True)
    assert (customer["members"], customer["joined_7d"], customer["left_7d"]) == (3, 3, 1)
    assert (lines[TEAM]["members"], lines[TEAM]["configured"]) == (0, True)
    heard = lines["wrHeardOf"]
    assert (heard["name"], heard["configured"], heard["members"], heard["joined_7d"]) == ("路人群", False, 1, 1)
    assert lines["wrGone"]["dismissed"] is True

    text = run("groups", "--config", str(config_with_groups(tmp_path, database_url))).output
    assert "社区福利1群 (wrCustomerGroup01)  customer  configured  push=customer_task  guide=guide01" in text
    assert "members=3  7d: +3 -1" in text
    assert "路人群 (wrHeardOf)  unknown  discovered" in text and "DISMISSED" in text


def test_groups_warns_about_a_webhook_group_without_key(tmp_path: Path, engine: Engine, database_url: str) -> None:
    """A webhook group whose key came out empty (${VAR:-}) is listed with a warning saying what to set."""
    groups = [{**GROUPS[1], "webhook_key": ""}]
    path = write_yaml(tmp_path / "nokey.yaml", {**base_config(database_url), "groups": groups})
    result = run("groups", "--config", str(path))
    assert result.exit_code == 0, result.output
    assert "webhook_key is empty" in result.output


def test_groups_on_an_unmigrated_database_says_what_to_run(tmp_path: Path) -> None:
    """Before `groupbot db upgrade`, the command exits 2 and says what to run, changing nothing."""
    path = config_with_groups(tmp_path, f"sqlite:///{tmp_path / 'empty.db'}")
    result = run("groups", "--config", str(path))
    assert result.exit_code == 2
    assert "db upgrade" in result.output
