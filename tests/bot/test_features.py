"""`groupbot check-config` per group: what an admin is told each group really gets, and why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner

from bot.cli.main import main
from tests.conftest import base_config, write_yaml

TEAM = {"chat_id": "wrTeam", "name": "团长群", "kind": "internal", "guide": "guide01", "push": "webhook"}
CUSTOMER = {"chat_id": "wrCust", "name": "福利群", "kind": "customer", "guide": "guide01", "push": "customer_task"}


def features(tmp_path: Path, *groups: dict[str, Any], **overrides: Any) -> dict[str, dict[str, str]]:
    """Run check-config and return, per group name, each feature's printed `state - why`."""
    data = base_config()
    data["outbox"] = {"transport": "wecom"}
    data["groups"] = list(groups)
    data.update(overrides)
    path = write_yaml(tmp_path / "config.yaml", data)
    result = CliRunner().invoke(main, ["check-config", "--config", str(path)])
    assert result.exit_code == 0, result.output
    found: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in result.stdout.splitlines():
        if line.startswith("  group "):
            current = found.setdefault(line.removeprefix("  group ").split(" (")[0], {})
        elif line.startswith("    ") and current is not None:
            name, _, rest = line.strip().partition(": ")
            current[name] = rest
    return found


def test_internal_group_with_webhook_is_live_but_gets_no_welcome(tmp_path: Path) -> None:
    """Commands through aibot and the robot webhook are live; WeCom sends no joins there, so no welcome."""
    team = features(tmp_path, {**TEAM, "webhook_key": "k-123"})["团长群"]
    assert team["push"].startswith("live - group robot webhook, at most 20 messages a minute")
    assert team["commands"].startswith("live")
    assert team["welcome"].startswith("off - WeCom reports no joins in internal groups")


def test_customer_group_is_degraded_to_tasks_and_one_to_one(tmp_path: Path) -> None:
    """A customer group: welcomes as guide-confirmed tasks, commands only 1:1; the reminder cadence is named."""
    cust = features(tmp_path, CUSTOMER, members={"rules": {"remind_every": {"members": 50}}})["福利群"]
    assert cust["push"] == "degraded - a task guide guide01 confirms in WeCom; at most one per day of the month"
    assert cust["commands"].startswith("degraded - no bot can hear a customer group: members send commands 1:1")
    assert cust["welcome"].startswith("degraded - joins within 60 s share one welcome; sent as a task guide guide01")
    assert cust["rules reminder"].startswith("degraded - after every 50 new members")


def test_missing_pieces_turn_features_off_and_say_what_to_set(tmp_path: Path) -> None:
    """No webhook key, no app callback, no aibot callback, welcomes disabled: each is named as the reason."""
    data = base_config()
    wecom = {**data["wecom"], "token": "", "encoding_aes_key": ""}
    found = features(tmp_path, TEAM, CUSTOMER, wecom=wecom, aibot={}, members={"welcome": {"enabled": False}})
    assert found["团长群"]["push"].startswith("off - push: webhook without webhook_key")
    assert found["团长群"]["commands"].startswith("off - the aibot callback is not configured")
    assert found["福利群"]["welcome"] == "off - members.welcome.enabled is false"
    assert found["福利群"]["rules reminder"].startswith("off - members.rules.remind_every.members is not set")
    assert found["福利群"]["commands"].startswith("off - no callback configured")


def test_console_transport_is_reported_as_printing_only(tmp_path: Path) -> None:
    """With outbox.transport console, nothing reaches WeCom and every push says so."""
    found = features(tmp_path, {**TEAM, "webhook_key": "k"}, outbox={"transport": "console"})
    assert found["团长群"]["push"] == "degraded - push: webhook, but outbox.transport is console: printed only"


def test_exact_keyword_behind_a_command_is_reported(tmp_path: Path) -> None:
    """An exact keyword spelled like a command (any width or case) can never answer; check-config names it."""
    keywords = [
        {"match": ["群规"], "mode": "exact", "reply": "请文明交流"},
        {"match": ["ＨＥＬＰ"], "mode": "exact", "reply": "找客服"},
        {"match": ["发货"], "mode": "exact", "reply": "48小时"},
        {"match": ["群规"], "reply": "contains rules still fire on longer text"},
    ]
    data = base_config()
    data["keywords"] = keywords
    path = write_yaml(tmp_path / "config.yaml", data)
    result = CliRunner().invoke(main, ["check-config", "--config", str(path)])
    assert result.exit_code == 0, result.output
    dead = {line for line in result.stdout.splitlines() if "never answers" in line}
    assert dead == {
        "  keyword 'ＨＥＬＰ' never answers: the command of that name is matched first",
        "  keyword '群规' never answers: the command of that name is matched first",
    }
