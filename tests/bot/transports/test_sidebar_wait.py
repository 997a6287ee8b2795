"""Customer-group content waits for the guide's sidebar: `delivery: sidebar` never becomes a task."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import FrozenClock
from bot.transports.drainer import drain_once
from bot.transports.wecom import WecomTransport
from models import outbox as outbox_rows
from tests.bot.transports.conftest import GROUPS, wecom_config
from tests.factories import config_from
from tests.fake_wecom import FakeWecom

SETTINGS = config_from({}).outbox


def sidebar_only(fake: FakeWecom):  # type: ignore[no-untyped-def]
    data = wecom_config(fake).model_dump(mode="json", exclude={"texts"})
    data["groups"] = [dict(g, delivery="sidebar") if g.get("kind") == "customer" else g for g in GROUPS]
    return config_from(data)


def test_sidebar_only_content_waits_and_the_guide_hears_once_per_window(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    transport = make_wecom(sidebar_only(fake_wecom))
    with factory.begin() as session:
        for text in ("早安", "午安"):
            outbox_rows.add_message(
                session,
                channel="group",
                target_kind="chat",
                target="wr-customer",
                payload={"msgtype": "text", "content": text, "mentions": [], "purpose": "push"},
                now=clock.now(),
            )
    report = drain_once(factory, transport, SETTINGS, clock, worker="test")
    assert report.waiting == 2
    clock.advance(days=3)
    for _ in range(3):
        drain_once(factory, transport, SETTINGS, clock, worker="test")
        clock.advance(days=1, seconds=1)
    assert fake_wecom.calls_to("externalcontact/add_msg_template") == []
    with factory() as session:
        rows = list(session.scalars(select(outbox_rows.OutboxMessage).order_by(outbox_rows.OutboxMessage.id)))
    assert [(r.channel, r.status) for r in rows if r.channel == "group"] == [("group", "waiting")] * 2
    notices = [r.payload["content"] for r in rows if r.channel == "app_message"]
    assert notices == ["有 1 条待发内容：打开客户群「客户群」侧边栏发送。"]
