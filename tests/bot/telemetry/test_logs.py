"""--log-format json: one parseable line per callback with request id, de-dup key, chat, user, outcome, duration."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from bot.cli.main import main
from bot.telemetry.logs import RequestIdFilter, json_formatter
from tests.factories import aibot_sender, aibot_text, app_sender, app_text


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """The service's JSON handler (as `--log-format json` installs it), writing to a buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(json_formatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    yield buffer
    root.removeHandler(handler)
    root.setLevel(level)


def lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_each_callback_logs_one_json_line(client: FlaskClient, json_lines: io.StringIO) -> None:
    signed = app_sender().xml_post(app_text("签到", user="zhangsan", msg_id="j-1"))
    client.post("/wecom/callback?" + signed.query_string, data=signed.body, headers={"X-Request-Id": "req-abc"})
    client.post("/wecom/callback?" + signed.query_string, data=signed.body)
    group = aibot_sender().json_post(aibot_text("@bot 帮助", chat="wrTeam01", user="lisi"))
    client.post("/wecom/aibot?" + group.query_string, data=group.body)
    forged = app_sender().xml_post(app_text("签到", msg_id="j-2"), token="forged")
    client.post("/wecom/callback?" + forged.query_string, data=forged.body)

    records = lines(json_lines)
    callbacks = [r for r in records if r["logger"] == "groupbot.callback"]
    assert [(r["channel"], r["outcome"], r["status"]) for r in callbacks] == [
        ("app", "handled", 200),
        ("app", "duplicate", 200),
        ("aibot", "handled", 200),
        ("app", "refused", 403),
    ]
    first = callbacks[0]
    assert first["request_id"] == "req-abc" and first["dedup_key"] == "app:msg:j-1"
    assert first["user_id"] == "zhangsan" and isinstance(first["duration_ms"], float)
    assert {"time", "level", "message"} <= set(first)
    assert callbacks[2]["chat_id"] == "wrTeam01" and callbacks[2]["user_id"] == "lisi"
    # A fresh id for a caller that sent none; the refusal's own warning carries the same id.
    assert len(str(callbacks[1]["request_id"])) == 32
    refusal = [r for r in records if r["logger"] == "bot.inbound.common"]
    assert refusal and refusal[-1]["request_id"] == callbacks[3]["request_id"]


def test_the_cli_offers_text_and_json() -> None:
    result = CliRunner().invoke(main, ["--log-format", "yaml", "outbox", "--help"])
    assert result.exit_code == 2 and "json" in result.output
    result = CliRunner().invoke(main, ["--help"])
    assert "--log-format [text|json]" in result.output


def test_serve_logs_json_lines(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A real process: `groupbot --log-format json` writes only JSON lines to stderr."""
    import subprocess
    import sys

    probe = (
        "import logging; from bot.telemetry.logs import setup_logging; setup_logging('json');"
        "logging.getLogger('groupbot').warning('ready %s', 'now', extra={'outcome': 'handled'})"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    [line] = result.stderr.splitlines()
    record = json.loads(line)
    assert (record["level"], record["message"], record["outcome"]) == ("WARNING", "ready now", "handled")
