"""Reload applies only a file that has stopped changing, and holds back an edit that empties whole sections."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.app import create_app
from bot.cli.main import main
from bot.config.guard import accept_path, held_path
from bot.config.holder import ConfigHolder
from bot.config.loader import ConfigError
from bot.services import Services
from tests.factories import config_loader, load_config, load_handlers

HOLDER_LOG = "bot.config.holder"
FULL = (
    "timezone: Asia/Shanghai\n"
    "roles:\n"
    "  admins: [boss]\n"
    "  guides: [guide01]\n"
    "keywords:\n"
    "  - match: [发货]\n"
    "    reply: REPLY\n"
    "groups:\n"
    "  - chat_id: wrgroup0001\n"
    "    name: 一群\n"
    "    guide: guide01\n"
)
# What an in-place save leaves when it is cut just before `roles:`: valid YAML, nothing after the cut.
CUT_BEFORE_ROLES = "timezone: Asia/Shanghai\n"


def _write(path: Path, text: str) -> None:
    """Write and give the file a strictly newer mtime, so an edit in the same clock tick is still seen."""
    ns = max(getattr(_write, "ns", 0), path.stat().st_mtime_ns if path.exists() else 0) + 1_000_000_000
    _write.ns = ns  # type: ignore[attr-defined]
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(ns, ns))


def _holder(path: Path, settle: float = 0) -> ConfigHolder:
    return ConfigHolder(path, lambda p: config_loader(load_handlers())(p, environ={}), settle_seconds=settle)


def _reply(holder: ConfigHolder) -> str | None:
    config = holder.current()
    return config.keywords[0].reply if config.keywords else None


# ---------------------------------------------------------------- a file still being written


def test_a_changing_file_is_applied_only_once_it_has_settled(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    _write(path, FULL.replace("REPLY", "旧"))
    holder = _holder(path, settle=0.3)

    _write(path, FULL.replace("REPLY", "新"))
    assert _reply(holder) == "旧"  # first seen changed: a writer may be mid-way
    _write(path, FULL.replace("REPLY", "更新"))
    assert _reply(holder) == "旧"  # changed again: the wait starts over
    time.sleep(0.35)
    assert _reply(holder) == "更新"


# ---------------------------------------------------------------- an edit that empties whole sections


def test_a_cut_off_file_is_held_and_the_running_config_kept(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "config.yaml"
    _write(path, FULL.replace("REPLY", "旧"))
    holder = _holder(path)
    caplog.set_level(logging.INFO, logger=HOLDER_LOG)

    _write(path, CUT_BEFORE_ROLES)
    config = holder.current()
    assert (config.roles.admins, len(config.groups), _reply(holder)) == (["boss"], 1, "旧")
    assert holder.held is not None and holder.held.dropped == ("roles", "groups")
    assert "held back: the edit empties roles, groups" in caplog.text
    assert json.loads(held_path(path).read_text())["dropped"] == ["roles", "groups"]

    # A complete edit afterwards applies, and the held one is forgotten.
    _write(path, FULL.replace("REPLY", "新"))
    assert _reply(holder) == "新"
    assert holder.held is None and not held_path(path).exists()


def test_reload_accept_applies_the_held_edit_and_only_that_one(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    _write(path, FULL.replace("REPLY", "旧"))
    holder = _holder(path)
    _write(path, CUT_BEFORE_ROLES)
    holder.current()

    status = CliRunner().invoke(main, ["reload", "--config", str(path)])
    assert status.exit_code == 0 and "held back: the edit empties roles, groups" in status.output
    checked = CliRunner().invoke(main, ["check-config", "--config", str(path)])
    assert "held back by the running service: the edit empties roles, groups" in checked.output

    accepted = CliRunner().invoke(main, ["reload", "--accept", "--config", str(path)])
    assert accepted.exit_code == 0, accepted.output
    assert "accepted as it is now (empties roles, groups)" in accepted.output
    assert holder.current().roles.admins == []
    assert holder.held is None

    # The acceptance named that content: restoring and cutting again with other text is held again.
    _write(path, FULL.replace("REPLY", "旧"))
    assert holder.current().roles.admins == ["boss"]
    _write(path, CUT_BEFORE_ROLES + "# another cut\n")
    assert holder.current().roles.admins == ["boss"]
    assert holder.held is not None
    assert accept_path(path).exists()


def test_healthz_reports_a_held_edit(services: Services, config_file: Path) -> None:
    client = create_app(services).test_client()
    assert client.get("/healthz").get_json()["config_held"] is None
    _write(config_file, "timezone: Asia/Shanghai\n")
    body = client.get("/healthz").get_json()
    assert "roles" in body["config_held"] and "reload --accept" in body["config_held"]


def test_removing_one_item_is_an_ordinary_edit(tmp_path: Path) -> None:
    """Only a section that becomes empty is held: a guide removed from a list is what admins do daily."""
    path = tmp_path / "config.yaml"
    _write(path, FULL.replace("REPLY", "旧"))
    holder = _holder(path)
    _write(path, FULL.replace("REPLY", "旧").replace("  admins: [boss]\n", ""))
    assert holder.current().roles.admins == []
    assert holder.held is None


# ---------------------------------------------------------------- a YAML alias bomb


def test_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{','.join([f'*{prev}'] * 9)}]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    started = time.process_time()
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={})
    assert time.process_time() - started < 1.0
    assert "expands to more than" in str(raised.value)
