"""/wecom/aibot (智能机器人): URL verification, encrypted stream replies, refusals, retries, concurrency.

The reply is opened the way WeCom opens it (signature checked, then decrypted), so these tests prove
what a member actually sees in the group.
"""

from __future__ import annotations

import io
import json
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.app import create_app
from bot.clock import FrozenClock
from bot.inbound.common import MAX_BODY_BYTES
from bot.services import Services, build_services
from models import OutboxMessage, ProcessedEvent
from tests import factories
from tests.conftest import base_config, count_rows, write_yaml
from tests.factories import load_handlers

URL = "/wecom/aibot"


def post(client: FlaskClient, signed: factories.Signed) -> Any:
    return client.post(f"{URL}?{signed.query_string}", data=signed.body, content_type="application/json")


def ask(client: FlaskClient, payload: dict[str, Any] | str) -> dict[str, Any]:
    """Send one callback and return the decrypted stream reply, checking it the way WeCom does."""
    sender = factories.aibot_sender()
    resp = post(client, sender.json_post(payload))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    return sender.open_reply(resp.get_json())


def assert_nothing_stored(engine: Engine) -> None:
    assert count_rows(engine, ProcessedEvent) == 0
    assert count_rows(engine, OutboxMessage) == 0


def texts(services: Services) -> Any:
    return services.config().texts


def assert_is_help(content: str, services: Services) -> None:
    """The full help listing: header, the 帮助 command itself, footer."""
    t = texts(services)
    assert content.startswith(t.render("help_header"))
    assert "帮助" in content[len(t.render("help_header")) :]
    assert content.endswith(t.render("help_footer"))


def signed_body(body: bytes) -> factories.Signed:
    """Valid signature parameters for a hand-made body (their signature covers some real ciphertext)."""
    return factories.Signed(factories.aibot_sender().json_post(factories.aibot_text("帮助")).query, body)


def signed_over(encrypted: str, body: bytes) -> factories.Signed:
    """A body carrying `encrypted`, signed over it with our token."""
    timestamp, nonce = "1700000000", uuid.uuid4().hex[:10]
    query = {
        "msg_signature": factories.signature(factories.AIBOT_TOKEN, timestamp, nonce, encrypted),
        "timestamp": timestamp,
        "nonce": nonce,
    }
    return factories.Signed(query, body)


# --- URL verification ------------------------------------------------------------------------------


def test_url_verification_with_empty_receive_id(client: FlaskClient, engine: Engine) -> None:
    """The robot's verification GET (receive id "") is answered with the echo plaintext."""
    query = factories.aibot_sender().verify_url("5927782489442352469")
    resp = client.get(f"{URL}?{urlencode(query)}")
    assert resp.status_code == 200
    assert resp.mimetype == "text/plain"
    assert resp.get_data(as_text=True) == "5927782489442352469"
    assert_nothing_stored(engine)


def test_url_verification_forged_is_403(client: FlaskClient) -> None:
    query = factories.aibot_sender().verify_url("12345")
    query["msg_signature"] = "0" * 40
    resp = client.get(f"{URL}?{urlencode(query)}")
    assert resp.status_code == 403
    assert "12345" not in resp.get_data(as_text=True)


def test_url_verification_signed_with_app_token_is_403(client: FlaskClient) -> None:
    """The two channels have separate credentials; the app's token does not open the robot's URL."""
    query = factories.aibot_sender().verify_url("12345", token=factories.APP_TOKEN)
    assert client.get(f"{URL}?{urlencode(query)}").status_code == 403


def test_url_verification_missing_echostr_is_400(client: FlaskClient) -> None:
    query = factories.aibot_sender().verify_url("12345")
    del query["echostr"]
    resp = client.get(f"{URL}?{urlencode(query)}")
    assert resp.status_code == 400
    assert "echostr" in resp.get_data(as_text=True)


# --- replies ---------------------------------------------------------------------------------------


def test_group_help_gets_encrypted_stream_reply(client: FlaskClient, engine: Engine, services: Services) -> None:
    """@小助手 帮助 in a group: the HTTP answer is a finished stream carrying the help text, nothing queued."""
    reply = ask(client, factories.aibot_text("帮助", user="lisi", chat="wrgroup0001"))
    assert set(reply) == {"msgtype", "stream"}
    assert reply["msgtype"] == "stream"
    assert set(reply["stream"]) == {"id", "finish", "content"}
    assert reply["stream"]["finish"] is True
    assert isinstance(reply["stream"]["id"], str) and reply["stream"]["id"]
    assert_is_help(reply["stream"]["content"], services)
    assert count_rows(engine, ProcessedEvent) == 1
    assert count_rows(engine, OutboxMessage) == 0
    with Session(engine) as session:
        row = session.scalars(select(ProcessedEvent)).one()
    assert (row.source, row.chat_id, row.user_id) == ("aibot", "wrgroup0001", "lisi")


def test_one_to_one_help(client: FlaskClient, engine: Engine, services: Services) -> None:
    """A 1:1 chat with the robot (no chatid, no @mention) gets the same help."""
    reply = ask(client, factories.aibot_text("帮助", chat=None))
    assert_is_help(reply["stream"]["content"], services)
    assert count_rows(engine, OutboxMessage) == 0


def test_help_alias_in_english(client: FlaskClient, services: Services) -> None:
    reply = ask(client, factories.aibot_text("help"))
    assert_is_help(reply["stream"]["content"], services)


def test_retry_gets_the_same_answer_and_stream_id(client: FlaskClient, engine: Engine, services: Services) -> None:
    """WeCom re-sends a callback it thinks failed; the member sees one answer, not a second or an empty one."""
    payload = factories.aibot_text("帮助", msgid="msg-retry-0001")
    first = ask(client, payload)
    second = ask(client, payload)
    assert second["stream"] == first["stream"]
    assert_is_help(second["stream"]["content"], services)
    assert count_rows(engine, ProcessedEvent) == 1
    assert count_rows(engine, OutboxMessage) == 0


def test_different_messages_get_different_stream_ids(client: FlaskClient) -> None:
    """Two separate questions are two streams; WeCom would otherwise merge their answers."""
    first = ask(client, factories.aibot_text("帮助"))
    second = ask(client, factories.aibot_text("帮助"))
    assert first["stream"]["id"] != second["stream"]["id"]


def test_keyword_gets_keyword_reply(client: FlaskClient, services: Services) -> None:
    reply = ask(client, factories.aibot_text("请问什么时候发货？"))
    assert reply["stream"]["content"] == services.config().keywords[0].reply


def test_unknown_text_gets_hint(client: FlaskClient, services: Services) -> None:
    reply = ask(client, factories.aibot_text("今天天气怎么样"))
    assert reply["stream"]["content"] == texts(services).render("unknown_command", text="今天天气怎么样")


def test_bare_mention_gets_empty_message_text(client: FlaskClient, services: Services) -> None:
    """@小助手 with nothing after it gets the friendly prompt, not an unknown-command hint."""
    payload = factories.aibot_text("x")
    payload["text"]["content"] = "@小助手"
    reply = ask(client, payload)
    assert reply["stream"]["content"] == texts(services).render("empty_message")


def test_admin_text_override_is_what_members_see(
    make_services: Callable[..., Services], tmp_path: Path, database_url: str
) -> None:
    """Help text comes from the YAML: an admin's `texts.help_header` replaces the packaged one."""
    config = base_config(database_url)
    config["texts"] = {"help_header": "本群小助手可以："}
    client = create_app(make_services(write_yaml(tmp_path / "config.yaml", config))).test_client()
    reply = ask(client, factories.aibot_text("帮助"))
    assert reply["stream"]["content"].startswith("本群小助手可以：\n")


# --- refusals ----------------------------------------------------------------------------------------


def test_forged_signature_is_403_and_stores_nothing(client: FlaskClient, engine: Engine) -> None:
    signed = factories.aibot_sender().json_post(factories.aibot_text("帮助"))
    signed.query["msg_signature"] = "f" * 40
    assert post(client, signed).status_code == 403
    assert_nothing_stored(engine)


def test_encrypted_for_another_receive_id_is_403_and_stores_nothing(client: FlaskClient, engine: Engine) -> None:
    signed = factories.aibot_sender().json_post(factories.aibot_text("帮助"), receive_id="wwother")
    assert post(client, signed).status_code == 403
    assert_nothing_stored(engine)


def test_signed_with_app_token_is_403_and_stores_nothing(client: FlaskClient, engine: Engine) -> None:
    signed = factories.aibot_sender().json_post(factories.aibot_text("帮助"), token=factories.APP_TOKEN)
    assert post(client, signed).status_code == 403
    assert_nothing_stored(engine)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"<xml><Encrypt>abc</Encrypt></xml>", id="xml"),
        pytest.param(b'{"encrypt": "abc"', id="truncated-json"),
        pytest.param(b"", id="empty"),
        pytest.param(b"\xff\xfe\x00", id="binary"),
        pytest.param(b'{"tousername": "x"}', id="no-encrypt"),
        pytest.param(b'{"encrypt": 12345}', id="encrypt-not-string"),
        pytest.param(b'{"encrypt": ""}', id="encrypt-empty"),
        pytest.param(b'["encrypt", "abc"]', id="array"),
        pytest.param(b'"just a string"', id="json-string"),
    ],
)
def test_malformed_envelope_is_400_and_stores_nothing(client: FlaskClient, engine: Engine, body: bytes) -> None:
    assert post(client, signed_body(body)).status_code == 400
    assert_nothing_stored(engine)


def test_signed_garbage_ciphertext_is_400_and_stores_nothing(client: FlaskClient, engine: Engine) -> None:
    garbage = "this is not base64 at all!"
    assert post(client, signed_over(garbage, json.dumps({"encrypt": garbage}).encode())).status_code == 400
    assert_nothing_stored(engine)


@pytest.mark.parametrize(
    "plaintext",
    [
        pytest.param("hello, not json", id="text"),
        pytest.param("<xml><MsgType>text</MsgType></xml>", id="xml"),
        pytest.param('["msgtype", "text"]', id="array"),
    ],
)
def test_decrypted_plaintext_not_a_json_object_is_ignored_with_200(
    client: FlaskClient, engine: Engine, plaintext: str
) -> None:
    """Signed, so WeCom sent it: a 4xx would only make WeCom retry it forever."""
    resp = post(client, factories.aibot_sender().json_post(plaintext))
    assert (resp.status_code, resp.get_data()) == (200, b"")
    assert_nothing_stored(engine)


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda p: p["text"].pop("content"), id="no-text-content"),
        pytest.param(lambda p: p.pop("text"), id="no-text-block"),
        pytest.param(lambda p: p.__setitem__("text", "帮助"), id="text-not-object"),
        pytest.param(lambda p: p.pop("msgtype"), id="no-msgtype"),
    ],
)
def test_incomplete_text_message_is_ignored_with_200_and_stores_nothing(
    client: FlaskClient, engine: Engine, mutate: Callable[[dict[str, Any]], Any]
) -> None:
    payload = factories.aibot_text("帮助")
    mutate(payload)
    assert post(client, factories.aibot_sender().json_post(payload)).status_code == 200
    assert_nothing_stored(engine)


def oversized_signed() -> factories.Signed:
    """A valid callback followed by whitespace past 64 KiB; truncating it would leave valid JSON."""
    signed = factories.aibot_sender().json_post(factories.aibot_text("帮助"))
    return factories.Signed(signed.query, signed.body + b" " * MAX_BODY_BYTES)


def test_body_over_64_kib_is_413_and_stores_nothing(client: FlaskClient, engine: Engine) -> None:
    assert post(client, oversized_signed()).status_code == 413
    assert_nothing_stored(engine)


def test_body_over_64_kib_streamed_without_length_is_413(client: FlaskClient, engine: Engine) -> None:
    """A chunked upload (no Content-Length), as gunicorn hands it to the app, is refused too."""
    signed = oversized_signed()
    resp = client.post(
        f"{URL}?{signed.query_string}",
        input_stream=io.BytesIO(signed.body),
        headers={"Transfer-Encoding": "chunked", "Content-Type": "application/json"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert resp.status_code == 413
    assert_nothing_stored(engine)


# --- callbacks that need no answer -----------------------------------------------------------------------


def test_refresh_of_a_stream_never_answered_is_empty_200_and_stores_nothing(
    client: FlaskClient, engine: Engine
) -> None:
    """A refresh for a stream id this service never started gets an empty answer and stores nothing."""
    payload = {
        "msgid": uuid.uuid4().hex,
        "aibotid": "aibot0001",
        "chattype": "group",
        "chatid": "wrgroup0001",
        "from": {"userid": "lisi"},
        "msgtype": "stream",
        "stream": {"id": "a1b2c3d4e5f6a7b8c9d0"},
    }
    resp = post(client, factories.aibot_sender().json_post(payload))
    assert resp.status_code == 200
    assert resp.get_data() == b""
    assert_nothing_stored(engine)


def test_enter_chat_event_is_recorded_once(client: FlaskClient, engine: Engine) -> None:
    """A member opening a 1:1 chat with the robot is an event; its retry is not recorded twice."""
    payload = {
        "msgid": "evt-enter-0001",
        "create_time": 1763776800,
        "aibotid": "aibot0001",
        "from": {"userid": "lisi"},
        "msgtype": "event",
        "event": {"eventtype": "enter_chat"},
    }
    sender = factories.aibot_sender()
    statuses = [post(client, sender.json_post(payload)).status_code for _ in range(2)]
    assert statuses == [200, 200]
    assert count_rows(engine, ProcessedEvent) == 1
    assert count_rows(engine, OutboxMessage) == 0
    with Session(engine) as session:
        row = session.scalars(select(ProcessedEvent)).one()
    assert (row.source, row.kind, row.user_id) == ("aibot", "enter_chat", "lisi")


def test_event_without_eventtype_is_ignored_with_200(client: FlaskClient, engine: Engine) -> None:
    payload = {"msgid": "evt-bad-0001", "from": {"userid": "lisi"}, "msgtype": "event", "event": {}}
    assert post(client, factories.aibot_sender().json_post(payload)).status_code == 200
    assert_nothing_stored(engine)


# --- concurrency (PostgreSQL) -----------------------------------------------------------------------------


def test_parallel_deliveries_of_one_msgid_answer_alike_and_record_once(
    pg_engine: Engine, pg_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    """8 simultaneous deliveries of one msgid (own request, own connection each): one record, 8 equal answers."""
    config_path = write_yaml(tmp_path / "config.yaml", base_config(pg_url))
    services = build_services(str(config_path), registry=load_handlers(), clock=clock, engine=pg_engine)
    app = create_app(services)
    sender = factories.aibot_sender()
    payload = factories.aibot_text("帮助", msgid="msg-parallel-0001")
    requests = [sender.json_post(payload) for _ in range(8)]
    barrier = threading.Barrier(len(requests))
    replies: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def deliver(signed: factories.Signed) -> None:
        try:
            client = app.test_client()
            barrier.wait(timeout=30)
            resp = post(client, signed)
            assert resp.status_code == 200, resp.get_data(as_text=True)
            replies.append(sender.open_reply(resp.get_json()))
        except BaseException as exc:  # surfaced below; a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(signed,)) for signed in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert len(replies) == 8
    assert len({json.dumps(r, sort_keys=True, ensure_ascii=False) for r in replies}) == 1
    assert_is_help(replies[0]["stream"]["content"], services)
    assert count_rows(pg_engine, ProcessedEvent) == 1
    assert count_rows(pg_engine, OutboxMessage) == 0
