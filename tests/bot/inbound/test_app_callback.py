"""/wecom/callback (self-built app): URL verification, `帮助` into the outbox, refusals, retries, 503.

Every refused request is checked for what matters to an operator: the status WeCom sees and that
nothing was stored (no ProcessedEvent, no OutboxMessage).
"""

from __future__ import annotations

import io
import json
import logging
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
from bot.registry import Registry
from bot.services import Services, build_services
from models import OutboxMessage, ProcessedEvent
from tests import factories
from tests.conftest import base_config, count_rows, write_yaml
from tests.factories import load_handlers

URL = "/wecom/callback"
VECTORS = json.loads((Path(__file__).resolve().parents[2] / "data" / "wecom-vectors.json").read_text("utf-8"))


def post(client: FlaskClient, signed: factories.Signed) -> Any:
    return client.post(f"{URL}?{signed.query_string}", data=signed.body, content_type="text/xml")


def assert_nothing_stored(engine: Engine) -> None:
    assert count_rows(engine, ProcessedEvent) == 0
    assert count_rows(engine, OutboxMessage) == 0


def outbox_rows(engine: Engine) -> list[OutboxMessage]:
    with Session(engine) as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def signed_envelope(body: str, encrypted: str) -> factories.Signed:
    """A hand-made envelope around `encrypted`, signed with our token the way WeCom signs it."""
    timestamp, nonce = "1700000000", uuid.uuid4().hex[:10]
    query = {
        "msg_signature": factories.signature(factories.APP_TOKEN, timestamp, nonce, encrypted),
        "timestamp": timestamp,
        "nonce": nonce,
    }
    return factories.Signed(query, body.encode("utf-8"))


def external_chat_event(chat: str = "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA") -> str:
    """Decrypted XML of a customer-group membership change: an event without MsgId."""
    return (
        f"<xml><ToUserName><![CDATA[{factories.CORP_ID}]]></ToUserName>"
        "<FromUserName><![CDATA[sys]]></FromUserName>"
        "<CreateTime>1763776800</CreateTime>"
        "<MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_external_chat]]></Event>"
        f"<ChatId><![CDATA[{chat}]]></ChatId>"
        "<ChangeType><![CDATA[update]]></ChangeType>"
        "<UpdateDetail><![CDATA[add_member]]></UpdateDetail>"
        "<JoinScene>1</JoinScene><MemChangeCnt>1</MemChangeCnt>"
        "<MemChangeList><Item><![CDATA[wmEAlECwAAHrbWYDOK5u3Af13xlYDDQ]]></Item></MemChangeList>"
        "</xml>"
    )


# --- URL verification ------------------------------------------------------------------------------


def test_url_verification_answers_echostr_plaintext(client: FlaskClient, engine: Engine) -> None:
    """The GET WeCom sends when the admin saves the callback URL is answered with the echo plaintext."""
    query = factories.app_sender().verify_url("8461772563849720145")
    resp = client.get(f"{URL}?{urlencode(query)}")
    assert resp.status_code == 200
    assert resp.mimetype == "text/plain"
    assert resp.get_data(as_text=True) == "8461772563849720145"
    assert_nothing_stored(engine)


def test_url_verification_with_tencents_published_request(
    make_services: Callable[..., Services], tmp_path: Path, database_url: str
) -> None:
    """Tencent's sample verification request, URL-encoded exactly as sent, passes with its credentials."""
    vector = next(v for v in VECTORS["vectors"] if "echostr_urlencoded_as_sent" in v)
    config = base_config(database_url)
    config["wecom"].update(
        token=vector["token"], encoding_aes_key=vector["encoding_aes_key"], corp_id=vector["receive_id"]
    )
    client = create_app(make_services(write_yaml(tmp_path / "config.yaml", config))).test_client()
    query = (
        f"msg_signature={vector['msg_signature']}&timestamp={vector['timestamp']}"
        f"&nonce={vector['nonce']}&echostr={vector['echostr_urlencoded_as_sent']}"
    )
    resp = client.get(f"{URL}?{query}")
    assert resp.status_code == 200
    assert resp.get_data(as_text=True).isdigit()


def test_url_verification_with_forged_signature_is_403(client: FlaskClient, engine: Engine) -> None:
    """Someone who does not know the token cannot make the service decrypt anything."""
    query = factories.app_sender().verify_url("12345")
    query["msg_signature"] = "0" * 40
    resp = client.get(f"{URL}?{urlencode(query)}")
    assert resp.status_code == 403
    assert "12345" not in resp.get_data(as_text=True)
    assert_nothing_stored(engine)


def test_url_verification_for_another_corp_is_403(client: FlaskClient) -> None:
    """An echostr encrypted for another CorpID is refused even when signed with our token."""
    query = factories.app_sender().verify_url("12345", receive_id="wwother")
    assert client.get(f"{URL}?{urlencode(query)}").status_code == 403


@pytest.mark.parametrize("missing", ["msg_signature", "timestamp", "nonce", "echostr"])
def test_url_verification_missing_parameter_is_400(client: FlaskClient, missing: str) -> None:
    """A verification GET without one of its four parameters is a bad request, naming the parameter."""
    query = factories.app_sender().verify_url("12345")
    del query[missing]
    resp = client.get(f"{URL}?{urlencode(query)}")
    assert resp.status_code == 400
    assert missing in resp.get_data(as_text=True)


def test_post_missing_signature_parameters_is_400(client: FlaskClient, engine: Engine) -> None:
    """A POST with no signature parameters at all is refused before anything is stored."""
    signed = factories.app_sender().xml_post(factories.app_text("帮助"))
    resp = client.post(URL, data=signed.body, content_type="text/xml")
    assert resp.status_code == 400
    assert_nothing_stored(engine)


# --- the happy path -------------------------------------------------------------------------------


def test_help_is_queued_for_the_sender(client: FlaskClient, engine: Engine, services: Services) -> None:
    """`帮助` sent to the app: WeCom gets an empty 200 and the help text is queued to the sender."""
    signed = factories.app_sender().xml_post(factories.app_text("帮助", user="zhangsan"))
    resp = post(client, signed)
    assert resp.status_code == 200
    assert resp.get_data() == b""
    assert count_rows(engine, ProcessedEvent) == 1
    rows = outbox_rows(engine)
    assert [(r.target_kind, r.target, r.channel, r.status) for r in rows] == [
        ("user", "zhangsan", "app_message", "pending")
    ]
    texts = services.config().texts
    assert texts.render("help_header") in rows[0].payload["content"]
    assert texts.render("help_footer") in rows[0].payload["content"]


def test_keyword_from_app_is_queued(client: FlaskClient, engine: Engine, services: Services) -> None:
    """A message matching a YAML keyword queues that keyword's reply."""
    post(client, factories.app_sender().xml_post(factories.app_text("请问什么时候发货？", user="wangwu")))
    rows = outbox_rows(engine)
    assert [(r.target, r.payload["content"]) for r in rows] == [("wangwu", services.config().keywords[0].reply)]


# --- refusals: signature and receive id ------------------------------------------------------------


def test_forged_signature_is_403_and_stores_nothing(client: FlaskClient, engine: Engine) -> None:
    signed = factories.app_sender().xml_post(factories.app_text("帮助"))
    signed.query["msg_signature"] = "f" * 40
    assert post(client, signed).status_code == 403
    assert_nothing_stored(engine)


def test_signed_with_another_token_is_403_and_stores_nothing(client: FlaskClient, engine: Engine) -> None:
    signed = factories.app_sender().xml_post(factories.app_text("帮助"), token="SomeoneElsesToken")
    assert post(client, signed).status_code == 403
    assert_nothing_stored(engine)


def test_encrypted_for_another_corp_is_403_and_stores_nothing(client: FlaskClient, engine: Engine) -> None:
    """A message for another CorpID, correctly signed with our token, is still refused."""
    signed = factories.app_sender().xml_post(factories.app_text("帮助"), receive_id="wwother")
    assert post(client, signed).status_code == 403
    assert_nothing_stored(engine)


# --- refusals: malformed bodies ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"<xml><Encrypt><![CDATA[abc]]></Encrypt>", id="unclosed"),
        pytest.param(b"not xml at all", id="not-xml"),
        pytest.param(b"", id="empty"),
        pytest.param(b"\xff\xfe<\x00x\x00", id="binary"),
    ],
)
def test_malformed_envelope_is_400_and_stores_nothing(client: FlaskClient, engine: Engine, body: bytes) -> None:
    signed = factories.app_sender().xml_post(factories.app_text("帮助"))
    resp = client.post(f"{URL}?{signed.query_string}", data=body, content_type="text/xml")
    assert resp.status_code == 400
    assert_nothing_stored(engine)


def test_envelope_without_encrypt_is_400_and_stores_nothing(client: FlaskClient, engine: Engine) -> None:
    signed = factories.app_sender().xml_post(factories.app_text("帮助"))
    body = f"<xml><ToUserName><![CDATA[{factories.CORP_ID}]]></ToUserName><AgentID>1</AgentID></xml>"
    resp = client.post(f"{URL}?{signed.query_string}", data=body, content_type="text/xml")
    assert resp.status_code == 400
    assert_nothing_stored(engine)


@pytest.mark.parametrize(
    "garbage",
    [
        pytest.param("this is not base64 at all!", id="not-base64"),
        # 24 bytes: valid base64 but not a whole number of AES blocks.
        pytest.param("QUJDREVGR0hJSktMTU5PUFFSU1RVVldY", id="not-block-aligned"),
    ],
)
def test_signed_garbage_ciphertext_is_400_and_stores_nothing(client: FlaskClient, engine: Engine, garbage: str) -> None:
    """Correctly signed, but the ciphertext cannot be decrypted: a bad request, not a crash."""
    body = (
        f"<xml><ToUserName><![CDATA[{factories.CORP_ID}]]></ToUserName><Encrypt><![CDATA[{garbage}]]></Encrypt></xml>"
    )
    resp = post(client, signed_envelope(body, garbage))
    assert resp.status_code == 400
    assert_nothing_stored(engine)


@pytest.mark.parametrize(
    "plaintext",
    [
        pytest.param("hello, this is not XML", id="text"),
        pytest.param('{"MsgType": "text", "Content": "帮助"}', id="json"),
        pytest.param("<xml><MsgType>text</MsgType>", id="unclosed-xml"),
    ],
)
def test_decrypted_plaintext_not_xml_is_ignored_with_200_and_stores_nothing(
    client: FlaskClient, engine: Engine, plaintext: str
) -> None:
    """Signed, so WeCom sent it: a 4xx would only make WeCom retry it forever."""
    assert post(client, factories.app_sender().xml_post(plaintext)).status_code == 200
    assert_nothing_stored(engine)


# --- refusals: size -----------------------------------------------------------------------------------


def oversized_signed() -> factories.Signed:
    """A correctly signed callback followed by whitespace past 64 KiB.

    Its first 64 KiB are a complete, valid callback, so a server that silently truncates instead of
    refusing would handle it (200, rows written) rather than answer 413.
    """
    signed = factories.app_sender().xml_post(factories.app_text("帮助"))
    return factories.Signed(signed.query, signed.body + b" " * MAX_BODY_BYTES)


def test_body_over_64_kib_with_content_length_is_413(client: FlaskClient, engine: Engine) -> None:
    signed = oversized_signed()
    assert len(signed.body) > MAX_BODY_BYTES
    resp = post(client, signed)
    assert resp.status_code == 413
    assert_nothing_stored(engine)


def test_body_over_64_kib_streamed_without_length_is_413(client: FlaskClient, engine: Engine) -> None:
    """A chunked upload (no Content-Length) is cut off at 64 KiB too, as gunicorn hands it over."""
    signed = oversized_signed()
    resp = client.post(
        f"{URL}?{signed.query_string}",
        input_stream=io.BytesIO(signed.body),
        headers={"Transfer-Encoding": "chunked", "Content-Type": "text/xml"},
        # gunicorn and Werkzeug's server set this for chunked bodies they de-chunk themselves.
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert resp.status_code == 413
    assert_nothing_stored(engine)


def test_chunked_body_under_the_limit_is_accepted(client: FlaskClient, engine: Engine) -> None:
    """A normal callback sent chunked (no Content-Length) is read in full and handled."""
    signed = factories.app_sender().xml_post(factories.app_text("帮助", user="zhangsan"))
    resp = client.post(
        f"{URL}?{signed.query_string}",
        input_stream=io.BytesIO(signed.body),
        headers={"Transfer-Encoding": "chunked", "Content-Type": "text/xml"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert resp.status_code == 200
    assert [r.target for r in outbox_rows(engine)] == ["zhangsan"]


def test_body_just_under_the_limit_is_accepted(client: FlaskClient, engine: Engine) -> None:
    """The limit is 64 KiB, not less: a padded but valid callback just under it is handled."""
    signed = factories.app_sender().xml_post(factories.app_text("帮助"))
    room = MAX_BODY_BYTES - len(signed.body) - len(b"<Pad></Pad>")
    body = signed.body.replace(b"</xml>", b"<Pad>" + b"x" * room + b"</Pad></xml>")
    assert len(body) == MAX_BODY_BYTES
    resp = post(client, factories.Signed(signed.query, body))
    assert resp.status_code == 200
    assert count_rows(engine, OutboxMessage) == 1


# --- refusals: XML entity tricks --------------------------------------------------------------------

BILLION_LAUGHS_DTD = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
    + "]>"
)
XXE_DTD = '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'


def _run_with_watchdog(call: Callable[[], Any]) -> Any:
    # Only a guard so an expanding parser fails the test instead of hanging the suite.
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(call()), daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "the request did not return: the entities were being expanded"
    return result[0]


def _passwd_line() -> str:
    try:
        return Path("/etc/passwd").read_text().splitlines()[0]
    except (OSError, IndexError):
        return "root:x:0:0"


def assert_passwd_nowhere(resp: Any, engine: Engine) -> None:
    assert _passwd_line() not in resp.get_data(as_text=True)
    for row in outbox_rows(engine):
        assert _passwd_line() not in json.dumps(row.payload, ensure_ascii=False)


def test_billion_laughs_envelope_is_refused_not_expanded(client: FlaskClient, engine: Engine) -> None:
    """An envelope whose DOCTYPE defines nested entities is refused; a validly signed payload inside does not help."""
    sender = factories.app_sender()
    encrypted = sender.encrypt(factories.app_text("帮助"))
    body = f"{BILLION_LAUGHS_DTD}<xml><ToUserName>&lol9;</ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    resp = _run_with_watchdog(lambda: post(client, signed_envelope(body, encrypted)))
    assert resp.status_code == 400
    assert_nothing_stored(engine)


def test_billion_laughs_inside_the_encrypted_message_is_refused(client: FlaskClient, engine: Engine) -> None:
    """Not expanded; signed, so it is ignored with 200 rather than retried forever."""
    plaintext = BILLION_LAUGHS_DTD + factories.app_text("&lol9;").replace("<![CDATA[&lol9;]]>", "&lol9;")
    resp = _run_with_watchdog(lambda: post(client, factories.app_sender().xml_post(plaintext)))
    assert resp.status_code == 200
    assert_nothing_stored(engine)


def test_external_entity_in_envelope_is_refused(client: FlaskClient, engine: Engine) -> None:
    sender = factories.app_sender()
    encrypted = sender.encrypt(factories.app_text("帮助"))
    body = f"{XXE_DTD}<xml><ToUserName>&xxe;</ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    resp = post(client, signed_envelope(body, encrypted))
    assert resp.status_code == 400
    assert_nothing_stored(engine)
    assert_passwd_nowhere(resp, engine)


def test_external_entity_inside_the_encrypted_message_is_refused(client: FlaskClient, engine: Engine) -> None:
    """`帮助 &xxe;` must not come back as a reply quoting /etc/passwd."""
    plaintext = XXE_DTD + factories.app_text("X").replace("<![CDATA[X]]>", "帮助 &xxe;")
    resp = post(client, factories.app_sender().xml_post(plaintext))
    assert resp.status_code == 200
    assert_nothing_stored(engine)
    assert_passwd_nowhere(resp, engine)


# --- retries and de-duplication ------------------------------------------------------------------------


def test_same_msgid_three_times_gives_one_effect_and_three_successes(client: FlaskClient, engine: Engine) -> None:
    """WeCom retries a slow callback (fresh nonce, fresh encryption); the sender gets one answer."""
    plaintext = factories.app_text("帮助", user="zhangsan", msg_id="7350000000000000001", create_time=1763776800)
    sender = factories.app_sender()
    statuses = [post(client, sender.xml_post(plaintext)).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert count_rows(engine, ProcessedEvent) == 1
    assert [r.target for r in outbox_rows(engine)] == ["zhangsan"]


def test_different_msgids_are_separate_messages(client: FlaskClient, engine: Engine) -> None:
    """De-duplication must not swallow two genuine messages with the same text."""
    sender = factories.app_sender()
    for msg_id in ("7350000000000000011", "7350000000000000012"):
        assert post(client, sender.xml_post(factories.app_text("帮助", msg_id=msg_id))).status_code == 200
    assert count_rows(engine, ProcessedEvent) == 2
    assert count_rows(engine, OutboxMessage) == 2


def test_customer_group_event_retry_is_recorded_once(client: FlaskClient, engine: Engine) -> None:
    """A change_external_chat event carries no MsgId; its retry is recognised by its fields."""
    sender = factories.app_sender()
    statuses = [post(client, sender.xml_post(external_chat_event())).status_code for _ in range(2)]
    assert statuses == [200, 200]
    assert count_rows(engine, ProcessedEvent) == 1
    with Session(engine) as session:
        row = session.scalars(select(ProcessedEvent)).one()
    assert (row.source, row.kind, row.chat_id) == ("app", "change_external_chat", "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA")


def test_events_in_two_groups_are_both_recorded(client: FlaskClient, engine: Engine) -> None:
    """The event fingerprint tells two groups' joins apart."""
    sender = factories.app_sender()
    for chat in ("wrGroupA", "wrGroupB"):
        assert post(client, sender.xml_post(external_chat_event(chat))).status_code == 200
    assert count_rows(engine, ProcessedEvent) == 2


# --- channel not configured -----------------------------------------------------------------------------


def test_unconfigured_app_channel_answers_503_and_says_so(
    make_services: Callable[..., Services],
    tmp_path: Path,
    database_url: str,
    engine: Engine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With wecom.token empty the app channel answers 503 and logs why; aibot and /healthz keep working."""
    config = base_config(database_url)
    config["wecom"]["token"] = ""
    client = create_app(make_services(write_yaml(tmp_path / "config.yaml", config))).test_client()

    with caplog.at_level(logging.WARNING):
        get = client.get(f"{URL}?{urlencode(factories.app_sender().verify_url('12345'))}")
        posted = post(client, factories.app_sender().xml_post(factories.app_text("帮助")))
    assert (get.status_code, posted.status_code) == (503, 503)
    assert "not configured" in posted.get_data(as_text=True)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("app" in m and "token" in m and "503" in m for m in warnings), warnings
    assert_nothing_stored(engine)

    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.get_json()["channels"] == {"app": "not configured", "aibot": "ready"}

    aibot = factories.aibot_sender()
    signed = aibot.json_post(factories.aibot_text("帮助"))
    resp = client.post(f"/wecom/aibot?{signed.query_string}", data=signed.body, content_type="application/json")
    assert resp.status_code == 200
    assert aibot.open_reply(resp.get_json())["stream"]["content"].startswith(
        client.application.extensions["groupbot"].config().texts.render("help_header")
    )


# --- concurrency (PostgreSQL) ---------------------------------------------------------------------------


def test_parallel_deliveries_of_one_msgid_queue_one_reply(
    pg_engine: Engine, pg_url: str, clock: Any, tmp_path: Path
) -> None:
    """8 concurrent deliveries of the same MsgId (each its own request and connection): one outbox row."""
    config_path = write_yaml(tmp_path / "config.yaml", base_config(pg_url))
    services = build_services(str(config_path), registry=load_handlers(), clock=clock, engine=pg_engine)
    app = create_app(services)
    sender = factories.app_sender()
    plaintext = factories.app_text("帮助", user="zhangsan", msg_id="7350000000000000099", create_time=1763776800)
    requests = [sender.xml_post(plaintext) for _ in range(8)]
    barrier = threading.Barrier(len(requests))
    statuses: list[int] = []
    errors: list[BaseException] = []

    def deliver(signed: factories.Signed) -> None:
        try:
            client = app.test_client()
            barrier.wait(timeout=30)
            statuses.append(post(client, signed).status_code)
        except BaseException as exc:  # surfaced below; a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(signed,)) for signed in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert statuses == [200] * 8
    assert count_rows(pg_engine, ProcessedEvent) == 1
    assert [r.target for r in outbox_rows(pg_engine)] == ["zhangsan"]


def test_handler_crash_answers_500_and_stores_nothing_so_the_retry_can_succeed(
    engine: Engine, config_file: Path, clock: FrozenClock
) -> None:
    """A bug or a lost database connection mid-handler must not swallow the message: WeCom retries a 500."""
    registry = Registry()
    failures = {"left": 1}

    @registry.command("签到")
    def flaky(ctx: Any, args: str) -> str:
        """Fail once, as a dropped connection would."""
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("connection lost")
        return "签到成功"

    client = create_app(build_services(str(config_file), registry=registry, clock=clock, engine=engine)).test_client()
    plaintext = factories.app_text("签到", user="zhangsan", msg_id="777000111")
    first = post(client, factories.app_sender().xml_post(plaintext))
    assert first.status_code == 500
    assert_nothing_stored(engine)

    retry = post(client, factories.app_sender().xml_post(plaintext))
    assert retry.status_code == 200
    assert [row.payload["content"] for row in outbox_rows(engine)] == ["签到成功"]
