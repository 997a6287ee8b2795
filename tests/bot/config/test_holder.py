"""The running service re-reads the YAML when it changes and keeps the last good version when an edit is bad."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.app import create_app
from bot.config.holder import ConfigHolder
from bot.config.loader import ConfigError
from bot.services import Services
from models import OutboxMessage, ProcessedEvent
from tests import factories
from tests.conftest import base_config, count_rows, write_yaml
from tests.factories import config_loader, load_handlers

HOLDER_LOG = "bot.config.holder"


def _touch_later(path: Path) -> None:
    """Give the file a strictly newer mtime: an edit in the same clock tick must still be seen."""
    _touch_later.ns = max(getattr(_touch_later, "ns", 0), os.stat(path).st_mtime_ns) + 1_000_000_000  # type: ignore[attr-defined]
    os.utime(path, ns=(_touch_later.ns, _touch_later.ns))  # type: ignore[attr-defined]


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    _touch_later(path)


def _write_config(path: Path, data: dict[str, Any]) -> None:
    write_yaml(path, data)
    _touch_later(path)


def _keyword_yaml(reply: str, *, extra: str = "") -> str:
    # Written by hand so the line of each mistake is known exactly.
    return (
        "timezone: Asia/Shanghai\n"  # 1
        "keywords:\n"  # 2
        "  - match: [发货]\n"  # 3
        f"    reply: {reply}\n"  # 4
        f"{extra}"
    )


def _holder(path: Path) -> ConfigHolder:
    return ConfigHolder(path, lambda p: config_loader(load_handlers())(p, environ={}), settle_seconds=0)


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == HOLDER_LOG and r.levelno == logging.ERROR]


# ---------------------------------------------------------------- ConfigHolder


def test_holder_picks_up_an_edit(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    _write_text(path, _keyword_yaml("旧回复"))
    holder = _holder(path)
    assert holder.current().keywords[0].reply == "旧回复"

    _write_text(path, _keyword_yaml("新回复"))
    assert holder.current().keywords[0].reply == "新回复"
    assert holder.last_error is None


def test_holder_sees_a_same_size_edit(tmp_path: Path) -> None:
    """Changing one character to another (same size) is still noticed via the mtime."""
    path = tmp_path / "config.yaml"
    _write_text(path, _keyword_yaml("回复A"))
    holder = _holder(path)
    _write_text(path, _keyword_yaml("回复B"))
    assert holder.current().keywords[0].reply == "回复B"


def test_holder_keeps_last_good_on_invalid_edit_and_logs_the_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A bad edit: old rules stay in force, last_error is set, and the log names file:line."""
    path = tmp_path / "config.yaml"
    _write_text(path, _keyword_yaml("旧回复"))
    holder = _holder(path)
    holder.current()

    caplog.set_level(logging.INFO, logger=HOLDER_LOG)
    _write_text(path, _keyword_yaml("新回复", extra="  - match: [客服]\n    replly: 拼错了\n"))
    assert holder.current().keywords[0].reply == "旧回复"
    assert holder.last_error is not None
    assert [(p.line, p.path) for p in holder.last_error.problems] == [
        (5, "keywords[1].reply"),
        (6, "keywords[1].replly"),
    ]
    [message] = _errors(caplog)
    assert "keeping the last good version" in message
    assert "config.yaml:6:5: keywords[1].replly: unknown key" in message
    assert "config.yaml:5:5: keywords[1].reply: field required" in message

    # Asking again without a new edit neither reloads nor logs the same error twice.
    assert holder.current().keywords[0].reply == "旧回复"
    assert len(_errors(caplog)) == 1

    _write_text(path, _keyword_yaml("修好了"))
    assert holder.current().keywords[0].reply == "修好了"
    assert holder.last_error is None


def test_holder_keeps_last_good_on_yaml_syntax_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "config.yaml"
    _write_text(path, _keyword_yaml("旧回复"))
    holder = _holder(path)
    caplog.set_level(logging.INFO, logger=HOLDER_LOG)

    _write_text(path, _keyword_yaml("新回复: 坏了"))
    assert holder.current().keywords[0].reply == "旧回复"
    [message] = _errors(caplog)
    assert "config.yaml:4:" in message and "invalid YAML" in message


def test_holder_keeps_last_good_when_the_file_disappears(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """An editor that deletes and re-creates the file must not take the bot down meanwhile."""
    path = tmp_path / "config.yaml"
    _write_text(path, _keyword_yaml("旧回复"))
    holder = _holder(path)
    caplog.set_level(logging.INFO, logger=HOLDER_LOG)

    path.unlink()
    assert holder.current().keywords[0].reply == "旧回复"
    assert holder.last_error is not None
    assert "cannot read the file" in _errors(caplog)[0]

    _write_text(path, _keyword_yaml("回来了"))
    assert holder.current().keywords[0].reply == "回来了"
    assert holder.last_error is None


def test_holder_keeps_last_good_on_an_unset_env_var(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "config.yaml"
    _write_text(path, _keyword_yaml("旧回复"))
    holder = _holder(path)
    caplog.set_level(logging.INFO, logger=HOLDER_LOG)

    _write_text(path, _keyword_yaml("旧回复", extra="aibot:\n  token: ${NOT_SET_ANYWHERE_42}\n"))
    assert holder.current().keywords[0].reply == "旧回复"
    assert "config.yaml:6:10: aibot.token: environment variable NOT_SET_ANYWHERE_42 is not set" in _errors(caplog)[0]


def test_holder_keeps_last_good_on_a_non_utf8_edit(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A file re-saved as GBK is a bad edit like any other: old rules stay, no exception escapes to requests."""
    path = tmp_path / "config.yaml"
    _write_text(path, _keyword_yaml("旧回复"))
    holder = _holder(path)
    caplog.set_level(logging.INFO, logger=HOLDER_LOG)

    path.write_bytes(_keyword_yaml("新回复").encode("gbk"))
    _touch_later(path)
    assert holder.current().keywords[0].reply == "旧回复"
    assert holder.last_error is not None
    assert _errors(caplog)


def test_holder_refuses_to_start_on_an_invalid_file(tmp_path: Path) -> None:
    """With no good version yet there is nothing to keep: the first load fails loudly."""
    path = tmp_path / "config.yaml"
    _write_text(path, _keyword_yaml("x", extra="bogus: 1\n"))
    with pytest.raises(ConfigError) as info:
        _holder(path)
    assert str(info.value) == f"{path}:5:1: bogus: unknown key"


def test_holder_warns_that_database_url_needs_a_restart(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "config.yaml"
    _write_text(path, "database_url: sqlite:///one.db\n")
    holder = _holder(path)
    caplog.set_level(logging.INFO, logger=HOLDER_LOG)
    _write_text(path, "database_url: sqlite:///two.db\n")
    holder.current()
    warnings = [r.getMessage() for r in caplog.records if r.name == HOLDER_LOG and r.levelno == logging.WARNING]
    assert any("database_url changed" in w and "restart" in w for w in warnings)


# ---------------------------------------------------------------- the whole app


def _ask(client: Any, text: str) -> str:
    sender = factories.aibot_sender()
    signed = sender.json_post(factories.aibot_text(text))
    resp = client.post(f"/wecom/aibot?{signed.query_string}", data=signed.body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    reply = sender.open_reply(resp.get_json())
    assert reply["msgtype"] == "stream" and reply["stream"]["finish"] is True
    return reply["stream"]["content"]


def _with_reply(database_url: str, reply: str) -> dict[str, Any]:
    data = base_config(database_url)
    data["keywords"] = [{"match": ["发货", "快递"], "reply": reply}]
    return data


def test_live_edit_changes_the_reply_and_a_bad_edit_keeps_the_old_one(
    client: Any,
    config_file: Path,
    database_url: str,
    engine: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """During serve: edit the keyword reply -> next message uses it; break the YAML -> old reply, log names line."""
    caplog.set_level(logging.INFO, logger=HOLDER_LOG)
    assert _ask(client, "发货") == "48小时内发货"

    _write_config(config_file, _with_reply(database_url, "今天下单明天发"))
    assert _ask(client, "什么时候发货？") == "今天下单明天发"

    # Break the file: a stray `key: value` inside the reply scalar at a line we can find.
    good = config_file.read_text(encoding="utf-8").splitlines()
    [reply_line] = [i for i, line in enumerate(good, start=1) if "今天下单明天发" in line]
    broken = [
        line.replace("今天下单明天发", "改成: 这样") if i == reply_line else line for i, line in enumerate(good, 1)
    ]
    _write_text(config_file, "\n".join(broken) + "\n")

    assert _ask(client, "发货") == "今天下单明天发"
    [message] = _errors(caplog)
    assert f"config.yaml:{reply_line}:" in message and "invalid YAML" in message

    _write_config(config_file, _with_reply(database_url, "修好了，48小时发"))
    assert _ask(client, "快递到哪了") == "修好了，48小时发"
    assert len(_errors(caplog)) == 1

    # Each of the four messages was recorded once, and none went through the outbox (they were passive replies).
    assert count_rows(engine, ProcessedEvent) == 4
    assert count_rows(engine, OutboxMessage) == 0


def test_live_edit_with_a_schema_error_keeps_old_rules(
    make_services: Callable[..., Services],
    tmp_path: Path,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A valid-YAML but invalid-config edit (unknown key) is also refused, with its exact line in the log."""
    path = tmp_path / "config.yaml"
    _write_config(path, _with_reply(database_url, "旧规则"))
    client = create_app(make_services(path)).test_client()
    caplog.set_level(logging.INFO, logger=HOLDER_LOG)
    assert _ask(client, "发货") == "旧规则"

    text = path.read_text(encoding="utf-8").replace("旧规则", "新规则") + "keyword:\n- match: [x]\n"
    bad_line = len(text.splitlines()) - 1
    _write_text(path, text)
    assert _ask(client, "发货") == "旧规则"
    [message] = _errors(caplog)
    assert f"config.yaml:{bad_line}:1: keyword: unknown key" in message


def test_live_removing_the_aibot_credentials_turns_the_channel_off(
    client: Any, config_file: Path, database_url: str, engine: Any
) -> None:
    """A valid edit that empties the aibot key is applied: the channel answers 503 and stores nothing."""
    assert _ask(client, "发货") == "48小时内发货"
    data = base_config(database_url)
    data["aibot"] = {"token": "", "encoding_aes_key": ""}
    _write_config(config_file, data)

    signed = factories.aibot_sender().json_post(factories.aibot_text("发货"))
    resp = client.post(f"/wecom/aibot?{signed.query_string}", data=signed.body)
    assert resp.status_code == 503
    assert count_rows(engine, ProcessedEvent) == 1
    assert count_rows(engine, OutboxMessage) == 0


def test_watcher_applies_an_edit_and_logs_a_bad_one_without_any_message(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An admin watching the log learns of a broken edit at once, not when the next member writes."""
    import threading
    import time

    from bot.config.holder import ConfigWatcher

    path = tmp_path / "config.yaml"
    _write_text(path, _keyword_yaml("旧回复"))
    holder = _holder(path)
    caplog.set_level(logging.INFO, logger=HOLDER_LOG)
    watcher = ConfigWatcher(holder, interval=0.05)
    watcher.start()

    def wait_for(condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 10
        while not condition() and time.monotonic() < deadline:
            threading.Event().wait(0.02)

    try:
        _write_text(path, _keyword_yaml("新回复"))
        wait_for(lambda: f"config {path} reloaded" in caplog.text)
        assert f"config {path} reloaded" in caplog.text

        _write_text(path, _keyword_yaml("坏了", extra="  - match: [客服]\n    replly: 拼错了\n"))
        wait_for(lambda: bool(_errors(caplog)))
        [message] = _errors(caplog)
        assert "config.yaml:6:5: keywords[1].replly: unknown key" in message
    finally:
        watcher.stop()
    assert holder.current().keywords[0].reply == "新回复"


def test_holder_ignores_a_momentarily_empty_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A save that truncates first must not leave the service without its roles and keywords."""
    path = tmp_path / "config.yaml"
    _write_text(path, _keyword_yaml("旧回复"))
    holder = _holder(path)
    caplog.set_level(logging.INFO, logger=HOLDER_LOG)

    _write_text(path, "")
    assert holder.current().keywords[0].reply == "旧回复"
    assert "is empty; keeping the last good version" in caplog.text

    _write_text(path, _keyword_yaml("新回复"))
    assert holder.current().keywords[0].reply == "新回复"
