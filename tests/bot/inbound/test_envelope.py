"""What anyone on the internet can send: unsigned envelopes are refused quickly, in one log line; stale ones too."""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine

from bot.app import create_app
from bot.inbound.common import MAX_BODY_BYTES
from bot.services import Services
from models import Base, OutboxMessage, ProcessedEvent
from tests import factories
from tests.conftest import base_config, count_rows, write_yaml

APP_URL, AIBOT_URL = "/wecom/callback", "/wecom/aibot"
UNSIGNED_QUERY = "msg_signature=" + "0" * 40 + "&timestamp=1763776800&nonce=abc"
DEEP = 100_000 // 12  # as deep as fits in the body limit


def total_rows(engine: Engine) -> int:
    return sum(count_rows(engine, table) for table in Base.__subclasses__() if hasattr(table, "__table__"))


def inbound_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("bot.inbound") or r.exc_info]


@pytest.mark.parametrize(
    ("url", "body", "statuses"),
    [
        pytest.param(AIBOT_URL, b'{"a": ' * DEEP + b"1" + b"}" * DEEP, {400}, id="json-deep-object"),
        pytest.param(AIBOT_URL, b"[" * 60_000 + b"]" * 5_000, {400}, id="json-deep-array"),
        pytest.param(
            AIBOT_URL, b'{"encrypt": "abc", ' + b'"k": [' * 5 + b"1" + b"]" * 5 + b"}", {400}, id="json-nested-5"
        ),
        pytest.param(
            AIBOT_URL, b'{"encrypt": "abc", "pad": "' + b"\\\\" * 30_000 + b'"}', {403}, id="json-long-escapes"
        ),
        pytest.param(
            AIBOT_URL,
            b'{"encrypt": "abc", ' + b", ".join(b'"k%d": 1' % i for i in range(5000)) + b"}",
            {403},
            id="json-wide",
        ),
        pytest.param(AIBOT_URL, b'{"encrypt": "\\ud800"}', {400}, id="json-surrogate"),
        pytest.param(AIBOT_URL, b"\x00" * 1000, {400}, id="json-nul-bytes"),
        pytest.param(APP_URL, b"<a>" * 9_000 + b"</a>" * 9_000, {400}, id="xml-deep"),
        pytest.param(
            APP_URL, b"<xml>" + b"<Encrypt>abc</Encrypt>" * 2000 + b"</xml>", {400}, id="xml-encrypt-repeated"
        ),
        pytest.param(APP_URL, b"<xml><Encrypt><a>abc</a></Encrypt></xml>", {400}, id="xml-encrypt-nested"),
        pytest.param(APP_URL, b"<xml>" + b"<K>1</K>" * 7000 + b"<Encrypt>abc</Encrypt></xml>", {403}, id="xml-wide"),
        pytest.param(
            APP_URL, b'<!DOCTYPE xml [<!ENTITY a "aaaa">]><xml><Encrypt>&a;</Encrypt></xml>', {400}, id="xml-doctype"
        ),
        pytest.param(APP_URL, b'<?xml version="1.0" encoding="utf-16"?><xml/>', {400}, id="xml-declared-utf16"),
        pytest.param(APP_URL, b"x" * (MAX_BODY_BYTES + 1), {413}, id="xml-huge"),
        pytest.param(AIBOT_URL, b"[" * (MAX_BODY_BYTES + 1), {413}, id="json-huge"),
    ],
)
def test_unsigned_envelope_is_refused_quickly_in_one_line(
    client: FlaskClient, engine: Engine, caplog: pytest.LogCaptureFixture, url: str, body: bytes, statuses: set[int]
) -> None:
    caplog.set_level(logging.INFO)
    started = time.perf_counter()
    resp = client.post(f"{url}?{UNSIGNED_QUERY}", data=body)
    elapsed = time.perf_counter() - started
    assert resp.status_code in statuses, resp.get_data(as_text=True)[:200]
    assert elapsed < 1.0
    lines = inbound_lines(caplog)
    if resp.status_code != 413:  # Werkzeug refuses the length before our code runs
        assert len(lines) == 1 and lines[0].exc_info is None, [r.getMessage() for r in lines]
    assert count_rows(engine, ProcessedEvent) == 0 and count_rows(engine, OutboxMessage) == 0


# --- freshness ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "timestamp",
    [
        pytest.param(978_307_200, id="2001"),
        pytest.param(9_999_999_999, id="2286"),
        pytest.param(lambda: int(time.time()) - 11 * 60, id="11-minutes-ago"),
        pytest.param(lambda: int(time.time()) + 11 * 60, id="11-minutes-ahead"),
    ],
)
def test_signed_request_outside_the_window_is_403_with_no_rows(
    client: FlaskClient, engine: Engine, timestamp: object
) -> None:
    when = timestamp() if callable(timestamp) else timestamp
    app = factories.app_sender().xml_post(factories.app_text("帮助"), timestamp=when)  # type: ignore[arg-type]
    aibot = factories.aibot_sender().json_post(factories.aibot_text("帮助"), timestamp=when)  # type: ignore[arg-type]
    assert client.post(f"{APP_URL}?{app.query_string}", data=app.body).status_code == 403
    assert client.post(f"{AIBOT_URL}?{aibot.query_string}", data=aibot.body).status_code == 403
    assert count_rows(engine, ProcessedEvent) == 0 and count_rows(engine, OutboxMessage) == 0


def test_signed_request_inside_the_window_is_taken(client: FlaskClient, engine: Engine) -> None:
    signed = factories.app_sender().xml_post(factories.app_text("帮助"), timestamp=int(time.time()) - 9 * 60)
    assert client.post(f"{APP_URL}?{signed.query_string}", data=signed.body).status_code == 200
    assert count_rows(engine, ProcessedEvent) == 1


def test_a_replay_inside_the_window_is_still_one_effect(client: FlaskClient, engine: Engine) -> None:
    signed = factories.app_sender().xml_post(factories.app_text("帮助", msg_id=str(uuid.uuid4().int % 10**18)))
    statuses = [client.post(f"{APP_URL}?{signed.query_string}", data=signed.body).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert count_rows(engine, ProcessedEvent) == 1 and count_rows(engine, OutboxMessage) == 1


def test_the_window_is_configurable(make_services: object, tmp_path: Path, database_url: str, engine: Engine) -> None:
    config = base_config(database_url)
    config["wecom"]["max_clock_skew_seconds"] = 60
    services: Services = make_services(write_yaml(tmp_path / "config.yaml", config))  # type: ignore[operator]
    client = create_app(services).test_client()
    stale = factories.aibot_sender().json_post(factories.aibot_text("帮助"), timestamp=int(time.time()) - 120)
    assert client.post(f"{AIBOT_URL}?{stale.query_string}", data=stale.body).status_code == 403
    fresh = factories.aibot_sender().json_post(factories.aibot_text("帮助"), timestamp=int(time.time()) - 30)
    assert client.post(f"{AIBOT_URL}?{fresh.query_string}", data=fresh.body).status_code == 200
