"""Correctly signed callbacks around generated plaintext, sent to SQLite and PostgreSQL side by side.

Whatever the plaintext (tags twice, elements where scalars belong, wrong JSON types, huge or empty
values, control characters, lone surrogates), each backend answers 200, 400, 403 or 413, logs no
traceback, writes nothing for a refused request, and both answer alike.
`--hypothesis-profile=long` runs many more examples than CI does.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from flask.testing import FlaskClient
from hypothesis import event, given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from bot.app import create_app
from bot.clock import FrozenClock
from bot.services import build_services
from models import Base, ProcessedEvent
from tests import factories
from tests.conftest import _migrated, _wipe, base_config, write_yaml
from tests.factories import load_handlers

ALLOWED = {200, 400, 403, 413}
APP_URL, AIBOT_URL = "/wecom/callback", "/wecom/aibot"


@dataclass
class Backend:
    name: str
    client: FlaskClient
    engine: Engine

    def rows(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {
                t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in Base.metadata.sorted_tables
            }


@pytest.fixture
def backends(request: pytest.FixtureRequest, tmp_path: Path, clock: FrozenClock) -> Iterator[list[Backend]]:
    """SQLite, and PostgreSQL when reachable (required when GROUPBOT_TEST_DATABASE_URL is set)."""
    urls = {"sqlite": request.getfixturevalue("sqlite_url")}
    try:
        urls["postgresql"] = request.getfixturevalue("pg_url")
    except pytest.skip.Exception:
        pass
    made = []
    for name, url in urls.items():
        engine = _migrated(url)
        _wipe(engine)
        config = write_yaml(tmp_path / f"{name}.yaml", base_config(url))
        services = build_services(str(config), registry=load_handlers(), clock=clock, engine=engine)
        made.append(Backend(name, create_app(services).test_client(), engine))
    yield made
    for backend in made:
        _wipe(backend.engine)


def send_everywhere(
    backends: list[Backend], url: str, signed: factories.Signed, caplog: pytest.LogCaptureFixture
) -> int:
    """Post one request to every backend; check the promises and that all backends agree; return the status."""
    outcomes = []
    for backend in backends:
        caplog.clear()
        before = backend.rows()
        resp = backend.client.post(f"{url}?{signed.query_string}", data=signed.body)
        written = {name: count - before[name] for name, count in backend.rows().items() if count != before[name]}
        assert resp.status_code in ALLOWED, (backend.name, resp.status_code, resp.get_data(as_text=True)[:300])
        tracebacks = [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
        assert not tracebacks, (backend.name, tracebacks[0].getMessage())
        if resp.status_code != 200:
            assert not written, (backend.name, resp.status_code, written)
        outcomes.append((resp.status_code, written))
    assert all(outcome == outcomes[0] for outcome in outcomes), [
        (b.name, o) for b, o in zip(backends, outcomes, strict=True)
    ]
    return outcomes[0][0]


# --- values WeCom never sends but an attacker with the key, or a bug at WeCom, might ------------------------

NO_SURROGATES = st.characters(exclude_categories=("Cs",))
ODD_TEXT = st.one_of(
    st.text(alphabet=NO_SURROGATES, max_size=40),
    st.sampled_from(["", " ", "帮助", "签到", "发货", "\x00", "a\x00b", "\x01\x0b\x1f", "\u200b=1", "＝1", "0"]),
    st.sampled_from([127, 128, 129, 190, 191, 192, 200, 250, 1000, 30_000, 70_000]).map(lambda n: "x" * n),
)
USERS = st.sampled_from(["zhangsan", "guide01", "boss", "", "x" * 128, "x" * 129, "x" * 200, "用户\x00", "sys"])


# --- the self-built app: XML ----------------------------------------------------------------------------

APP_TAGS = ["ToUserName", "FromUserName", "CreateTime", "MsgType", "Content", "MsgId", "AgentID", "Event", "ChatId",
            "ChangeType", "UpdateDetail", "JoinScene", "QuitScene", "MemChangeCnt", "MemChangeList"]  # fmt: skip
APP_VALUES = {
    "MsgType": st.sampled_from(["text", "event", "image", "TEXT", "", "x" * 40]),
    "Event": st.sampled_from(["change_external_chat", "subscribe", "kf_msg_or_event", "x" * 100, ""]),
    "ChangeType": st.sampled_from(["create", "update", "dismiss", "?"]),
    "UpdateDetail": st.sampled_from(["add_member", "del_member", "change_name", ""]),
    "CreateTime": st.sampled_from(["1763776800", "0", "-1", "978307200", "9999999999", "1e9", "9" * 40, "abc"]),
    "MsgId": st.one_of(st.integers(0, 10**20).map(str), st.sampled_from(["x" * 250, "", "0"])),
    "FromUserName": USERS,
    "ChatId": st.sampled_from(["wrgroup0001", "wrgroup0002", "", "c" * 129, "c" * 200]),
    "JoinScene": st.sampled_from(["0", "1", "3", "x", ""]),
}


def xml_value(tag: str) -> st.SearchStrategy[str]:
    """The inside of one element: text (escaped or CDATA), a nested element, or a list of <Item>s."""
    scalar = APP_VALUES.get(tag, ODD_TEXT)
    return st.one_of(
        scalar.map(lambda v: escape(v)),
        scalar.map(lambda v: f"<![CDATA[{v}]]>"),
        scalar.map(lambda v: f"<a>{escape(v)}</a>"),
        st.lists(USERS, max_size=4).map(lambda users: "".join(f"<Item><![CDATA[{u}]]></Item>" for u in users)),
        st.integers(4, 40).map(lambda depth: "<a>" * depth + "x" + "</a>" * depth),
    )


def _cdata(value: str) -> str:
    return f"<![CDATA[{value}]]>"


@st.composite
def app_plaintext(draw: st.DrawFn) -> str:
    """A real text or group-change message, then up to three mutations: replace, repeat, drop or add a field."""
    fields: list[tuple[str, str]] = [
        ("ToUserName", _cdata(factories.CORP_ID)),
        ("FromUserName", _cdata(draw(st.sampled_from(["zhangsan", "guide01", "sys"])))),
        ("CreateTime", "1763776800"),
    ]
    if draw(st.booleans()):
        content = draw(st.sampled_from(["帮助", "签到", "发货", "积分", "你好"]))
        fields += [
            ("MsgType", _cdata("text")),
            ("Content", _cdata(content)),
            ("MsgId", str(draw(st.integers(1, 10**18)))),
        ]
    else:
        fields += [("MsgType", _cdata("event")), ("Event", _cdata("change_external_chat")),
                   ("ChatId", _cdata("wrgroup0001")), ("ChangeType", _cdata("update")),
                   ("UpdateDetail", _cdata(draw(st.sampled_from(["add_member", "del_member"])))),
                   ("JoinScene", "1"), ("MemChangeList", f"<Item>{_cdata(draw(st.uuids()).hex)}</Item>")]  # fmt: skip
    for _ in range(draw(st.integers(0, 3))):
        tag = draw(st.sampled_from([*APP_TAGS, "Extra"]))
        action = draw(st.sampled_from(["replace", "repeat", "drop", "add"]))
        at = next((i for i, (name, _) in enumerate(fields) if name == tag), None)
        if action == "replace" and at is not None:
            fields[at] = (tag, draw(xml_value(tag)))
        elif action == "drop" and at is not None:
            del fields[at]
        else:
            fields.append((tag, draw(xml_value(tag))))
    body = "".join(f"<{tag}>{inner}</{tag}>" for tag, inner in fields)
    shape = draw(st.sampled_from(["<xml>{}</xml>"] * 6 + ["<xml>{}", "{}", "<?xml version='1.0'?><xml>{}</xml>"]))
    return shape.format(body)


@given(plaintext=app_plaintext())
def test_signed_app_callbacks_of_any_shape(
    backends: list[Backend], caplog: pytest.LogCaptureFixture, plaintext: str
) -> None:
    caplog.set_level(logging.INFO)
    event(f"status {send_everywhere(backends, APP_URL, factories.app_sender().xml_post(plaintext), caplog)}")
    event("rows written" if sum(backends[0].rows().values()) else "nothing written yet")


# --- the intelligent robot: JSON ------------------------------------------------------------------------------

SURROGATES = st.sampled_from(["\ud800", "a\udfffb", "\udc00\ud83d"])
JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), ODD_TEXT, SURROGATES, USERS)
JSON_ANY = st.recursive(
    JSON_LEAF,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
AIBOT_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "msgid": st.one_of(
        st.uuids().map(lambda u: u.hex), st.sampled_from(["m" * 190, "m" * 191, "m" * 250, ""]), JSON_ANY
    ),
    "chattype": st.sampled_from(["group", "single", "other"]) | JSON_ANY,
    "chatid": st.sampled_from(["wrgroup0001", "c" * 128, "c" * 129, "c" * 200]) | JSON_ANY,
    "from": st.fixed_dictionaries({"userid": USERS}) | JSON_ANY,
    "msgtype": st.sampled_from(["text", "voice", "mixed", "event", "stream", "image", "e" * 100]) | JSON_ANY,
    "text": st.fixed_dictionaries({"content": ODD_TEXT | SURROGATES}) | JSON_ANY,
    "voice": st.fixed_dictionaries({"content": ODD_TEXT}) | JSON_ANY,
    "mixed": st.fixed_dictionaries(
        {
            "msg_item": st.lists(
                st.fixed_dictionaries(
                    {"msgtype": st.just("text"), "text": JSON_ANY | st.fixed_dictionaries({"content": ODD_TEXT})}
                ),
                max_size=3,
            )
        }
    )
    | JSON_ANY,  # fmt: skip
    "event": st.fixed_dictionaries({"eventtype": st.sampled_from(["enter_chat", "e" * 32, "e" * 33, "e" * 100])})
    | JSON_ANY,
    "response_url": st.sampled_from(["https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code=t"]) | JSON_ANY,
}


@st.composite
def aibot_plaintext(draw: st.DrawFn) -> str:
    """A real message, then up to three mutations (keys may repeat: json.loads keeps the last), or no object at all."""
    payload = factories.aibot_text(draw(st.sampled_from(["帮助", "签到", "发货", "积分"])), msgid=draw(st.uuids()).hex)
    members = [(key, json.dumps(value)) for key, value in payload.items()]
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from([*AIBOT_VALUES, "extra"]))
        action = draw(st.sampled_from(["replace", "repeat", "drop"]))
        value = json.dumps(draw(AIBOT_VALUES.get(key, JSON_ANY)))
        if action == "drop":
            members = [(k, v) for k, v in members if k != key]
        elif action == "replace":
            members = [(k, value if k == key else v) for k, v in members] + ([] if key in payload else [(key, value)])
        else:
            members.append((key, value))
    text = ", ".join(f"{json.dumps(key)}: {value}" for key, value in members)
    shape = draw(st.sampled_from(["object"] * 6 + ["truncated", "array", "deep", "text"]))
    if shape == "object":
        return "{" + text + "}"
    if shape == "truncated":
        return "{" + text
    if shape == "array":
        return "[" + text.replace(": ", ", ") + "]"
    if shape == "deep":
        depth = draw(st.integers(5, 5000))
        return '{"a": ' * depth + "1" + "}" * depth
    return draw(st.text(alphabet=NO_SURROGATES, max_size=30))


@given(plaintext=aibot_plaintext())
def test_signed_aibot_callbacks_of_any_shape(
    backends: list[Backend], caplog: pytest.LogCaptureFixture, plaintext: str
) -> None:
    caplog.set_level(logging.INFO)
    event(f"status {send_everywhere(backends, AIBOT_URL, factories.aibot_sender().json_post(plaintext), caplog)}")
    event("rows written" if sum(backends[0].rows().values()) else "nothing written yet")


# --- the cases that once answered 500 on PostgreSQL only, pinned -------------------------------------------------


@pytest.mark.parametrize(
    ("change", "processed"),
    [
        pytest.param({"msgid": "m" * 250}, 0, id="msgid-250"),
        pytest.param({"msgid": "m" * 190}, 1, id="msgid-190-fits"),
        pytest.param({"from": {"userid": "u" * 200}}, 0, id="userid-200"),
        pytest.param({"chatid": "c" * 200}, 0, id="chatid-200"),
        pytest.param({"msgtype": "event", "event": {"eventtype": "e" * 100}}, 0, id="event-type-100"),
        pytest.param({"text": {"content": "帮\x00助"}}, 1, id="nul-in-text"),
        pytest.param({"text": {"content": "帮助\ud800"}}, 1, id="lone-surrogate"),
        pytest.param(
            {"mixed": {"msg_item": [{"msgtype": "text", "text": "帮助"}]}, "msgtype": "mixed"},
            0,
            id="mixed-text-string",
        ),
    ],
)
def test_values_postgresql_refuses_are_handled_before_it(
    backends: list[Backend], caplog: pytest.LogCaptureFixture, change: dict[str, Any], processed: int
) -> None:
    payload = {**factories.aibot_text("帮助", msgid=uuid.uuid4().hex), **change}
    plaintext = json.dumps(payload)  # ASCII escapes carry the surrogate the way WeCom's JSON would
    assert send_everywhere(backends, AIBOT_URL, factories.aibot_sender().json_post(plaintext), caplog) == 200
    for backend in backends:
        assert backend.rows()[ProcessedEvent.__tablename__] == processed


@pytest.mark.parametrize(
    "plaintext",
    [
        pytest.param(factories.app_text("帮助").replace("</xml>", "<Content>签到</Content></xml>"), id="content-twice"),
        pytest.param(
            factories.app_text("帮助").replace("<![CDATA[zhangsan]]>", "<a>zhangsan</a>"), id="nested-from-user"
        ),
        pytest.param(factories.app_text("帮助", user="u" * 200), id="userid-200"),
        pytest.param(factories.app_text("帮助", msg_id="9" * 250), id="msgid-250"),
        pytest.param(factories.make_member_joined("c" * 200, ["lisi"]), id="chatid-200"),
        pytest.param(factories.make_member_joined("wrgroup0001", ["u" * 129]), id="member-129"),
    ],
)
def test_signed_app_messages_of_impossible_shape_are_ignored_alike(
    backends: list[Backend], caplog: pytest.LogCaptureFixture, plaintext: str
) -> None:
    caplog.set_level(logging.INFO)
    assert send_everywhere(backends, APP_URL, factories.app_sender().xml_post(plaintext), caplog) == 200
    assert "ignored:" in caplog.text
    for backend in backends:
        assert sum(backend.rows().values()) == 0


def test_contact_change_with_nested_attributes_is_taken(
    backends: list[Backend], caplog: pytest.LogCaptureFixture
) -> None:
    """change_contact nests <ExtAttr><Item><Name> four levels deep; that shape is WeCom's own, not odd."""
    plaintext = (
        f"<xml><ToUserName><![CDATA[{factories.CORP_ID}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
        "<CreateTime>1763776800</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_contact]]></Event><ChangeType>update_user</ChangeType><UserID>zhangsan</UserID>"
        "<ExtAttr><Item><Name><![CDATA[爱好]]></Name><Type>0</Type><Text><Value>旅游</Value></Text></Item></ExtAttr>"
        "</xml>"
    )
    assert send_everywhere(backends, APP_URL, factories.app_sender().xml_post(plaintext), caplog) == 200
    for backend in backends:
        assert backend.rows()[ProcessedEvent.__tablename__] == 1
