"""Each WeCom channel receives exactly the request body WeCom documents, through the real drainer and HTTP."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import FrozenClock
from bot.config.core import OutboxConfig
from bot.events import Event
from bot.outbox import queue_reply
from bot.replies import Reply
from bot.transports.console import ConsoleTransport
from bot.transports.customer_task import poll_customer_tasks
from bot.transports.drainer import Drainer, DrainReport, drain_once, make_transport
from bot.transports.wecom import WecomTransport, build_wecom_transport
from models import OutboxMessage, customer_task
from models import outbox as outbox_rows
from tests.bot.transports.conftest import WEBHOOK_KEY, wecom_config
from tests.fake_wecom import CORP_ID, SECRET, FakeWecom

SETTINGS = OutboxConfig(batch_size=50, max_attempts=3, retry_base_seconds=5, retry_max_seconds=60)


def add(factory: sessionmaker[Session], clock: FrozenClock, channel: str, target: str, payload: dict[str, Any]) -> int:
    with factory.begin() as session:
        kind = "chat" if channel == "group" else "user"
        row = outbox_rows.add_message(
            session, channel=channel, target_kind=kind, target=target, payload=payload, now=clock.now()
        )
        return row.id


def row(factory: sessionmaker[Session], row_id: int) -> OutboxMessage:
    with factory() as session:
        found = session.get(OutboxMessage, row_id)
        assert found is not None
        return found


def drain(factory: sessionmaker[Session], transport: WecomTransport, clock: FrozenClock) -> DrainReport:
    return drain_once(factory, transport, SETTINGS, clock, worker="test")


def test_app_message_text_body_and_token_from_configured_host(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """message/send gets touser, agentid and text; the token comes from gettoken on the configured host."""
    payload = {"msgtype": "text", "content": "你好，导购", "mentions": []}
    row_id = add(factory, clock, "app_message", "zhangsan", payload)
    assert drain(factory, make_wecom(), clock).sent == 1

    (gettoken,) = fake_wecom.calls_to("gettoken")
    assert gettoken.query == {"corpid": CORP_ID, "corpsecret": SECRET}
    (call,) = fake_wecom.calls_to("message/send")
    assert call.query == {"access_token": "token-1"}
    assert call.body == {
        "touser": "zhangsan",
        "msgtype": "text",
        "agentid": 1000002,
        "text": {"content": "你好，导购"},
        "safe": 0,
    }
    assert row(factory, row_id).status == "sent"


def test_app_message_markdown_body(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """A markdown reply to a guide is sent as msgtype markdown."""
    add(factory, clock, "app_message", "guide01", {"msgtype": "markdown", "content": "**今日** 3 单", "mentions": []})
    drain(factory, make_wecom(), clock)
    assert fake_wecom.bodies("message/send") == [
        {"touser": "guide01", "msgtype": "markdown", "agentid": 1000002, "markdown": {"content": "**今日** 3 单"}}
    ]


def test_webhook_text_with_mentions(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """A text into a webhook group carries the @mentions in mentioned_list and the robot key in the URL."""
    payload = {"msgtype": "text", "content": "今晚八点开团", "mentions": ["lisi", "wangwu"]}
    add(factory, clock, "group", "wr-internal", payload)
    assert drain(factory, make_wecom(), clock).sent == 1
    (call,) = fake_wecom.calls_to("webhook/send")
    assert call.method == "POST"
    assert call.query == {"key": WEBHOOK_KEY}
    assert call.body == {
        "msgtype": "text",
        "text": {"content": "今晚八点开团", "mentioned_list": ["lisi", "wangwu"]},
    }
    # A webhook needs no access token: nothing asked for one.
    assert fake_wecom.calls_to("gettoken") == []


def test_webhook_markdown_and_news(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """Markdown puts mentions as <@userid> in the content; news sends the articles as given."""
    article = {
        "title": "今日上新",
        "description": "限时8折",
        "url": "https://example.com/a",
        "picurl": "https://example.com/p.png",
    }
    add(factory, clock, "group", "wr-internal", {"msgtype": "markdown", "content": "# 通知", "mentions": ["lisi"]})
    add(factory, clock, "group", "wr-internal", {"msgtype": "news", "articles": [article]})
    assert drain(factory, make_wecom(), clock).sent == 2
    assert fake_wecom.bodies("webhook/send") == [
        {"msgtype": "markdown", "markdown": {"content": "<@lisi>\n# 通知"}},
        {"msgtype": "news", "news": {"articles": [article]}},
    ]


def test_appchat_text_body(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """A group with push: appchat gets appchat/send with its chatid."""
    add(factory, clock, "group", "wr-appchat", {"msgtype": "text", "content": "明天休息", "mentions": []})
    assert drain(factory, make_wecom(), clock).sent == 1
    assert fake_wecom.bodies("appchat/send") == [
        {"chatid": "wr-appchat", "msgtype": "text", "text": {"content": "明天休息"}, "safe": 0}
    ]


def test_customer_task_body_msgid_confirmation_and_polling(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """A customer-group message becomes a task from the guide; its msgid is kept, the guide is asked to confirm,
    and polling marks it sent once WeCom reports it sent."""
    transport = make_wecom()
    payload = {"msgtype": "text", "content": "欢迎新朋友！", "mentions": []}
    task_row = add(factory, clock, "group", "wr-customer", payload)
    assert drain(factory, transport, clock).sent == 1
    assert fake_wecom.bodies("externalcontact/add_msg_template") == [
        {
            "chat_type": "group",
            "sender": "guide01",
            "chat_id_list": ["wr-customer"],
            "text": {"content": "欢迎新朋友！"},
        }
    ]
    with factory() as session:
        (task,) = customer_task.tasks(session)
    assert (task.msgid, task.chat_id, task.sender, task.status, task.outbox_id) == (
        "task-2",
        "wr-customer",
        "guide01",
        "waiting",
        task_row,
    )

    # The guide's nudge is its own outbox row, delivered as an app message on the next pass.
    assert drain(factory, transport, clock).sent == 1
    (nudge,) = fake_wecom.bodies("message/send")
    assert nudge is not None and nudge["touser"] == "guide01"
    assert nudge["text"]["content"] == (
        "群「客户群」有一条待发送的群发消息，请在企业微信「客户联系 → 群发消息」中确认发送：欢迎新朋友！"
    )

    config = wecom_config(fake_wecom)
    # Not confirmed yet: still waiting, looked at again later.
    clock.advance(seconds=config.outbound.task_poll_seconds)
    assert poll_customer_tasks(factory, transport.api, lambda: config, clock.now()).polled == 1
    assert fake_wecom.bodies("externalcontact/get_groupmsg_send_result") == [
        {"msgid": "task-2", "userid": "guide01", "limit": 1000}
    ]
    with factory() as session:
        assert customer_task.tasks(session)[0].status == "waiting"
    # Polling before the next poll time asks nothing.
    assert poll_customer_tasks(factory, transport.api, lambda: config, clock.now()).polled == 0

    fake_wecom.task_status["task-2"] = 1
    clock.advance(seconds=config.outbound.task_poll_seconds)
    assert poll_customer_tasks(factory, transport.api, lambda: config, clock.now()).sent == 1
    with factory() as session:
        assert customer_task.tasks(session, status="sent")[0].msgid == "task-2"


def test_customer_task_not_confirmed_expires(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """A task the guide never sends is marked expired after task_expire_hours and no longer polled."""
    transport = make_wecom()
    add(factory, clock, "group", "wr-customer", {"msgtype": "text", "content": "本周活动", "mentions": []})
    drain(factory, transport, clock)
    config = wecom_config(fake_wecom)
    clock.advance(hours=config.outbound.task_expire_hours)
    assert poll_customer_tasks(factory, transport.api, lambda: config, clock.now()).expired == 1
    clock.advance(hours=1)
    assert poll_customer_tasks(factory, transport.api, lambda: config, clock.now()).polled == 0
    with factory() as session:
        assert [t.status for t in customer_task.tasks(session)] == ["expired"]


def test_customer_group_without_guide_fails_with_hint(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """A customer_task group with no guide fails at once and says to set groups[].guide; WeCom is not called."""
    config = wecom_config(fake_wecom)
    groups = [g.model_copy(update={"guide": None}) if g.chat_id == "wr-customer" else g for g in config.groups]
    config = config.model_copy(update={"groups": groups})
    config.__dict__.pop("groups_by_chat", None)
    row_id = add(factory, clock, "group", "wr-customer", {"msgtype": "text", "content": "hi", "mentions": []})
    assert drain(factory, make_wecom(config), clock).failed == 1
    failed = row(factory, row_id)
    assert failed.last_error is not None and "groups[].guide" in failed.last_error
    assert fake_wecom.calls_to("externalcontact/add_msg_template") == []


def test_aibot_late_answer_posts_once_to_response_url(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """A Reply marked via_response_url is queued for the event's response_url and posted there once."""
    url = f"{fake_wecom.base_url}/cgi-bin/aibot/response?response_code=abc"
    event = Event(
        kind="text",
        source="aibot",
        user_id="lisi",
        chat_id="wr-internal",
        at=clock.now(),
        text="查订单",
        msg_id="m1",
        response_url=url,
    )
    with factory.begin() as session:
        queued = queue_reply(session, Reply("订单已发货", via_response_url=True), clock.now(), origin=event)
        assert queued is not None
        row_id = queued.id
    transport = make_wecom()
    assert drain(factory, transport, clock).sent == 1
    (call,) = fake_wecom.calls_to("aibot/response")
    assert call.query == {"response_code": "abc"}
    assert call.body == {"msgtype": "markdown", "markdown": {"content": "订单已发货"}}
    clock.advance(minutes=5)
    assert drain(factory, transport, clock).claimed == 0
    assert len(fake_wecom.calls_to("aibot/response")) == 1
    assert row(factory, row_id).channel == "aibot_response"


def test_aibot_answer_after_its_hour_fails_without_calling(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """An answer still queued an hour after the message fails at once with a hint; the URL is not called."""
    event = Event(
        kind="text",
        source="aibot",
        user_id="lisi",
        chat_id=None,
        at=clock.now(),
        text="查订单",
        msg_id="m2",
        response_url=f"{fake_wecom.base_url}/cgi-bin/aibot/response?response_code=x",
    )
    with factory.begin() as session:
        queued = queue_reply(session, Reply("晚了", via_response_url=True), clock.now(), origin=event)
        assert queued is not None
        row_id = queued.id
    clock.advance(hours=1)
    assert drain(factory, make_wecom(), clock).failed == 1
    failed = row(factory, row_id)
    assert failed.last_error is not None and "expired" in failed.last_error
    assert fake_wecom.calls_to("aibot/response") == []


def test_unlisted_chat_fails_at_once_naming_it(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """A group row for a chat the YAML does not list fails on the first attempt and names the chat id."""
    row_id = add(factory, clock, "group", "wr-unknown", {"msgtype": "text", "content": "hi", "mentions": []})
    report = drain(factory, make_wecom(), clock)
    assert report.failed == 1
    failed = row(factory, row_id)
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert failed.last_error is not None and "wr-unknown" in failed.last_error and "groups:" in failed.last_error
    assert fake_wecom.calls == []


def test_console_group_is_printed_not_sent(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock
) -> None:
    """A group with push: console is printed locally even when the transport is wecom."""
    config = wecom_config(fake_wecom)
    transport = build_wecom_transport(lambda: config, factory, clock)
    stream = io.StringIO()
    transport.console = ConsoleTransport(stream)
    add(factory, clock, "group", "wr-console", {"msgtype": "text", "content": "演练", "mentions": []})
    assert drain(factory, transport, clock).sent == 1
    assert stream.getvalue() == "→ wr-console: 演练\n"
    assert fake_wecom.calls == []


def test_make_transport_builds_wecom_and_refuses_missing_credentials(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock
) -> None:
    """`outbox.transport: wecom` gives the WeCom transport; without corp_id/secret it refuses to start, saying why."""
    config = wecom_config(fake_wecom)
    assert isinstance(make_transport(config, session_factory=factory, clock=clock), WecomTransport)
    bare = config.model_copy(update={"wecom": config.wecom.model_copy(update={"secret": ""})})
    with pytest.raises(ValueError, match="wecom.corp_id or wecom.secret"):
        make_transport(bare, session_factory=factory, clock=clock)


def test_background_drainer_polls_customer_tasks(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """The serve-time drainer also polls customer tasks between passes, so a confirmed task is marked sent."""
    transport = make_wecom()
    add(factory, clock, "group", "wr-customer", {"msgtype": "text", "content": "欢迎", "mentions": []})
    drain(factory, transport, clock)
    (msgid,) = fake_wecom.task_status
    fake_wecom.task_status[msgid] = 1
    clock.advance(seconds=wecom_config(fake_wecom).outbound.task_poll_seconds)

    drainer = Drainer(factory, transport, SETTINGS.model_copy(update={"poll_seconds": 60}), clock)
    drainer.start()
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with factory() as session:
                if customer_task.tasks(session, status="sent"):
                    break
            time.sleep(0.02)
    finally:
        drainer.stop(timeout=5)
    with factory() as session:
        assert [t.msgid for t in customer_task.tasks(session, status="sent")] == [msgid]
