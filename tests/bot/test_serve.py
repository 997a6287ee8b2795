"""The real `groupbot serve` process with the shipped config.example.yaml: the issue's "done when", end to end."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests import factories

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = ROOT / "config.example.yaml"
EXAMPLE_DB_LINE = "database_url: sqlite:///groupbot.db"
SHIPPING_REPLY = "下单后 48 小时内发货，物流单号会在订单详情里更新哦～"
HELP_HEADER = "我能帮你做这些（发送指令即可）："
WAIT_SECONDS = 20.0


def groupbot_command() -> list[str]:
    """The installed console script, or the module when the tests run from another interpreter."""
    script = Path(sys.executable).parent / "groupbot"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli.main"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], Any], what: str, timeout: float = WAIT_SECONDS) -> Any:
    """Poll `predicate` until it returns something truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def http(url: str, data: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class Workspace:
    """A temporary deployment: a copy of config.example.yaml on a private SQLite file, secrets in the environment."""

    def __init__(self, root: Path):
        self.root = root
        self.db_file = root / "data" / "groupbot.db"
        self.config = root / "config.yaml"
        text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
        # The example must keep the line this test rewrites; otherwise the copy would use ./groupbot.db.
        assert text.count(EXAMPLE_DB_LINE) == 1, "config.example.yaml no longer has the expected database_url line"
        self.config.write_text(
            text.replace(EXAMPLE_DB_LINE, f"database_url: sqlite:///{self.db_file}"), encoding="utf-8"
        )
        env = {k: v for k, v in os.environ.items() if k not in ("GROUPBOT_DATABASE_URL", "GROUPBOT_CONFIG")}
        env.update(
            WECOM_CORP_ID=factories.CORP_ID,
            WECOM_TOKEN=factories.APP_TOKEN,
            WECOM_AES_KEY=factories.APP_AES_KEY,
            AIBOT_TOKEN=factories.AIBOT_TOKEN,
            AIBOT_AES_KEY=factories.AIBOT_AES_KEY,
            GROUPBOT_LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
        )
        self.env = env

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*groupbot_command(), *args, "--config", str(self.config)],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def outbox_json(self) -> list[dict[str, Any]]:
        result = self.cli("outbox", "--json")
        assert result.returncode == 0, result.stderr
        return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


class Server:
    """`groupbot serve` as a child process whose stdout and stderr are collected line by line."""

    def __init__(self, workspace: Workspace):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.proc = subprocess.Popen(
            [*groupbot_command(), "serve", "--config", str(workspace.config), "--port", str(self.port)],
            cwd=workspace.root,
            env=workspace.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        # Drain both pipes continuously so the child never blocks on a full pipe.
        self._readers = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.stdout), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _pump(stream: Any, sink: list[str]) -> None:
        for line in stream:
            sink.append(line)

    def out(self) -> str:
        return "".join(self.stdout)

    def err(self) -> str:
        return "".join(self.stderr)

    def wait_healthy(self) -> dict[str, Any]:
        def healthy() -> dict[str, Any] | None:
            if self.proc.poll() is not None:
                pytest.fail(f"groupbot serve exited with {self.proc.returncode}:\n{self.err()}")
            try:
                status, body = http(f"{self.base}/healthz")
            except OSError:
                return None
            return json.loads(body) if status == 200 else None

        return wait_until(healthy, "/healthz to answer 200")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for reader in self._readers:
            reader.join(timeout=5)


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    ws = Workspace(tmp_path)
    upgrade = ws.cli("db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    assert "is at revision" in upgrade.stdout
    return ws


@pytest.fixture
def server(workspace: Workspace) -> Iterator[Server]:
    srv = Server(workspace)
    try:
        srv.wait_healthy()
        yield srv
    finally:
        srv.kill()


def aibot_says(server: Server, text: str, *, user: str = "lisi") -> dict[str, Any]:
    """Send `text` to the aibot endpoint as an @mention in a group and return the decrypted stream reply."""
    sender = factories.aibot_sender()
    signed = sender.json_post(factories.aibot_text(text, user=user, msgid=uuid.uuid4().hex))
    status, body = http(f"{server.base}/wecom/aibot?{signed.query_string}", signed.body)
    assert status == 200, body
    return sender.open_reply(json.loads(body))


def test_serve_with_example_config_verifies_url_and_delivers_help(workspace: Workspace, server: Server) -> None:
    """Done when: a signed GET returns the echostr; 帮助 via the app is in `groupbot outbox` and gets delivered."""
    health = server.wait_healthy()
    assert health["channels"] == {"app": "ready", "aibot": "ready"}
    assert health["database"] == "ok"

    # URL verification signed with the token and EncodingAESKey taken from the environment.
    app = factories.app_sender()
    echo = "echo-" + uuid.uuid4().hex
    status, body = http(f"{server.base}/wecom/callback?" + urlencode(app.verify_url(echo)))
    assert (status, body.decode()) == (200, echo)
    aibot = factories.aibot_sender()
    status, body = http(f"{server.base}/wecom/aibot?" + urlencode(aibot.verify_url(echo)))
    assert (status, body.decode()) == (200, echo)
    # Signed with another token: refused, the echostr is not revealed.
    status, body = http(f"{server.base}/wecom/callback?" + urlencode(app.verify_url(echo, token="SomeOtherToken")))
    assert status == 403 and echo not in body.decode()

    signed = app.xml_post(factories.app_text("帮助", user="zhangsan"))
    status, body = http(f"{server.base}/wecom/callback?{signed.query_string}", signed.body)
    assert (status, body) == (200, b"")

    listing = workspace.cli("outbox")
    assert listing.returncode == 0, listing.stderr
    assert "→ zhangsan" in listing.stdout
    rows = workspace.outbox_json()
    assert len(rows) == 1
    row = rows[0]
    assert (row["target_kind"], row["target"], row["channel"]) == ("user", "zhangsan", "app_message")
    assert row["payload"]["content"].startswith(HELP_HEADER)
    assert row["created_at"].endswith("+08:00")

    # The drainer inside serve delivers it through the console transport ...
    wait_until(lambda: "→ zhangsan: " + HELP_HEADER in server.out(), "the console transport to print the reply")
    # ... and records the delivery.
    sent = wait_until(
        lambda: [r for r in workspace.outbox_json() if r["status"] == "sent"], "the outbox row to be marked sent"
    )
    assert [r["id"] for r in sent] == [row["id"]]
    assert sent[0]["sent_at"] is not None and sent[0]["attempts"] == 1
    assert server.out().count("→ zhangsan: ") == 1


def test_bad_yaml_edit_while_serving_keeps_old_rules_and_sigterm_stops(workspace: Workspace, server: Server) -> None:
    """A broken edit is logged with file and line, the old reply stays; a good edit applies; SIGTERM exits 0."""
    assert aibot_says(server, "发货")["stream"]["content"] == SHIPPING_REPLY

    original = workspace.config.read_text(encoding="utf-8")
    lines = original.splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.strip() == f'reply: "{SHIPPING_REPLY}"')
    broken_line = index + 1
    # One space short: the reply no longer belongs to its rule, so the file is not valid YAML.
    lines[index] = '   reply: "新的发货说明"\n'
    workspace.config.write_text("".join(lines), encoding="utf-8")

    reply = aibot_says(server, "发货")
    assert reply["msgtype"] == "stream" and reply["stream"]["finish"] is True
    assert reply["stream"]["content"] == SHIPPING_REPLY
    wait_until(lambda: f"{workspace.config}:{broken_line}:" in server.err(), "the log to name the broken file and line")
    assert "keeping the last good version" in server.err()
    status, body = http(f"{server.base}/healthz")
    assert status == 200
    assert f"{workspace.config}:{broken_line}:" in json.loads(body)["config_error"]

    # Proves the file is watched at all: a valid edit takes effect without a restart.
    lines[index] = '    reply: "新的发货说明"\n'
    workspace.config.write_text("".join(lines), encoding="utf-8")
    # Applied once the file has stopped changing (a second of settling), not mid-write.
    wait_until(lambda: aibot_says(server, "发货")["stream"]["content"] == "新的发货说明", "the good edit to apply")
    status, body = http(f"{server.base}/healthz")
    assert json.loads(body)["config_error"] is None

    server.proc.send_signal(signal.SIGTERM)
    try:
        code = server.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail("groupbot serve did not stop within 10 s of SIGTERM")
    assert code == 0, server.err()
    wait_until(lambda: "stopped" in server.err(), "the shutdown to be logged")


def test_half_written_config_while_serving_is_held_and_a_complete_edit_applies(
    workspace: Workspace, server: Server
) -> None:
    """An in-place save cut just before `roles:` is valid YAML; serving goes on with the old config."""
    original = workspace.config.read_text(encoding="utf-8")
    cut = original[: original.index("\nroles:\n") + 1]
    workspace.config.write_text(cut, encoding="utf-8")

    wait_until(lambda: "held back: the edit empties roles" in server.err(), "the held edit to be logged")
    assert aibot_says(server, "发货")["stream"]["content"] == SHIPPING_REPLY
    status, body = http(f"{server.base}/healthz")
    assert status == 200
    held = json.loads(body)["config_held"]
    assert "roles" in held and "groups" in held and "reload --accept" in held
    checked = workspace.cli("check-config")
    assert "held back by the running service: the edit empties roles" in checked.stdout

    workspace.config.write_text(original.replace(SHIPPING_REPLY, "新的发货说明"), encoding="utf-8")
    wait_until(lambda: aibot_says(server, "发货")["stream"]["content"] == "新的发货说明", "the complete edit to apply")
    status, body = http(f"{server.base}/healthz")
    assert json.loads(body)["config_held"] is None


def test_serve_on_unmigrated_database_refuses_with_upgrade_hint(tmp_path: Path) -> None:
    """Serving before `groupbot db upgrade` exits non-zero and tells the operator what to run."""
    ws = Workspace(tmp_path)
    result = subprocess.run(
        [*groupbot_command(), "serve", "--config", str(ws.config), "--port", str(free_port())],
        cwd=ws.root,
        env=ws.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "groupbot db upgrade" in result.stderr
    assert "Traceback" not in result.stderr
