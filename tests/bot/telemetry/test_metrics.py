"""/metrics after a scripted run: callbacks by outcome, handler latency, sends by errcode, deferrals, database
gauges; refused to strangers; added up across two gunicorn workers (multiprocess mode)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from bot.clock import FrozenClock
from bot.config.core import OutboxConfig
from bot.config.web import METRICS_TOKEN_ENV
from bot.services import Services
from bot.transports.base import Deferred, DeliveryError, OutgoingMessage
from bot.transports.drainer import drain_once
from models import migrate, scheduler_lease
from models import outbox as outbox_rows
from models.db import make_engine
from tests.browser import free_port
from tests.conftest import base_config, write_yaml
from tests.factories import app_sender, app_text

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(client: FlaskClient) -> Samples:
    answer = client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/plain")
    return parse(answer.get_data(as_text=True))


def post(client: FlaskClient, plaintext: str, **kwargs: object) -> int:
    signed = app_sender().xml_post(plaintext, **kwargs)  # type: ignore[arg-type]
    return client.post("/wecom/callback?" + signed.query_string, data=signed.body).status_code


class Scripted:
    """A transport that answers each row as its content says: ok, an errcode, or a spent budget."""

    name = "scripted"

    def send(self, message: OutgoingMessage) -> None:
        content = str(message.payload.get("content"))
        if content == "deny":
            raise DeliveryError("WeCom errcode 45009", transient=False, errcode=45009, refused=True)
        if content == "later":
            raise Deferred(message_time(), "minute budget of 20 spent for webhook", backlog=False)

    def route(self, message: OutgoingMessage) -> str:
        return "webhook" if message.channel == "group" else message.channel


def message_time():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.now(UTC) + timedelta(minutes=1)


def test_metrics_after_a_scripted_run(client: FlaskClient, services: Services, clock: FrozenClock) -> None:
    before = scrape(client)
    assert post(client, app_text("签到", msg_id="m-1")) == 200
    assert post(client, app_text("签到", msg_id="m-1")) == 200  # WeCom's retry
    assert post(client, app_text("帮助", msg_id="m-2")) == 200
    assert post(client, app_text("签到", msg_id="m-3"), token="forged-token") == 403
    with services.session_factory.begin() as db:
        for content in ("ok", "deny", "later"):
            outbox_rows.add_message(
                db, channel="group", target_kind="chat", target="wrX", payload={"content": content}, now=clock.now()
            )
        scheduler_lease.acquire(db, "scheduler", "host-b:7:lead", clock.now(), timedelta(minutes=1))
    report = drain_once(services.session_factory, Scripted(), OutboxConfig(), clock)  # type: ignore[arg-type]
    assert (report.sent, report.failed, report.deferred) >= (1, 1, 1)
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("groupbot_callbacks_total", channel="app", outcome="handled") == 2
    assert delta("groupbot_callbacks_total", channel="app", outcome="duplicate") == 1
    assert delta("groupbot_callbacks_total", channel="app", outcome="refused") == 1
    assert delta("groupbot_handler_seconds_count", source="app") == 3
    assert delta("groupbot_sends_total", transport="webhook", errcode="0") == 1
    assert delta("groupbot_sends_total", transport="app_message", errcode="0") == 2  # the two answers
    assert delta("groupbot_sends_total", transport="webhook", errcode="45009") == 1
    assert delta("groupbot_limiter_deferrals_total", transport="webhook", reason="budget") == 1
    # Gauges come from the database: the outbox by state, the scheduler's leader.
    assert value(after, "groupbot_outbox_rows", state="failed", channel="group") == 1
    assert value(after, "groupbot_outbox_rows", state="sent", channel="group") == 1
    assert value(after, "groupbot_scheduler_leader", holder="host-b:7:lead") == 1
    assert "groupbot_kf_window_waits_total" in {name for name, _ in after}


def test_metrics_are_not_public(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    stranger = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/metrics", environ_base=stranger).status_code == 403
    monkeypatch.setenv(METRICS_TOKEN_ENV, "s3cret-token")
    assert client.get("/metrics", environ_base=stranger, headers={"Authorization": "Bearer wrong"}).status_code == 403
    answer = client.get("/metrics", environ_base=stranger, headers={"Authorization": "Bearer s3cret-token"})
    assert answer.status_code == 200
    # X-Forwarded-For is not believed.
    assert client.get("/metrics", environ_base=stranger, headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 403


def test_two_gunicorn_workers_add_up(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path}/gunicorn.db"
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    engine.dispose()
    config = write_yaml(tmp_path / "config.yaml", base_config(database_url))
    metrics_dir = tmp_path / "prom"
    metrics_dir.mkdir()
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PROMETHEUS")},
        "GROUPBOT_CONFIG": str(config),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    command = [gunicorn, "-w", "2", "-b", f"127.0.0.1:{port}", "-c", "python:bot.telemetry.gunicorn", "bot.wsgi:app"]
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2)
                break
            except OSError:
                time.sleep(0.3)
        sender = app_sender()
        for n in range(8):
            signed = sender.xml_post(app_text("帮助", msg_id=f"g-{n}"))
            request = urllib.request.Request(base + "/wecom/callback?" + signed.query_string, data=signed.body)
            with urllib.request.urlopen(request, timeout=10) as answer:
                assert answer.status == 200
        # Each worker keeps its own file; the scrape (answered by either worker) adds them up.
        files = list(metrics_dir.glob("counter_*.db"))
        samples = parse(urllib.request.urlopen(base + "/metrics", timeout=10).read().decode())
        assert value(samples, "groupbot_callbacks_total", channel="app", outcome="handled") == 8
        assert value(samples, "groupbot_handler_seconds_count", source="app") == 8
        assert len(files) >= 1
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0].decode(errors="replace")
    assert "Booting worker" in output and output.count("Booting worker") >= 2
