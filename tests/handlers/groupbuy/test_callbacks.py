"""The whole life of a deal as WeCom delivers it: encrypted callbacks in, stream replies and outbox rows out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from bot.app import create_app
from bot.clock import FrozenClock
from bot.services import Services
from handlers.groupbuy.commands import close_due_groupbuys
from models import OutboxMessage
from models.groupbuy import Deal, Signup
from tests import factories
from tests.conftest import write_yaml
from tests.handlers.groupbuy.chat import CUSTOMER_GROUP, GROUP, bot_config


def ask(client: FlaskClient, payload: dict[str, Any]) -> str:
    """Send one aibot callback and return the text of the decrypted stream reply."""
    sender = factories.aibot_sender()
    signed = sender.json_post(payload)
    resp = client.post(f"/wecom/aibot?{signed.query_string}", data=signed.body, content_type="application/json")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return str(sender.open_reply(resp.get_json())["stream"]["content"])


def tell_app(client: FlaskClient, text: str, user: str) -> None:
    """Send one message to the self-built app 1:1 (answers go out as app messages)."""
    signed = factories.app_sender().xml_post(factories.app_text(text, user=user))
    resp = client.post(f"/wecom/callback?{signed.query_string}", data=signed.body, content_type="text/xml")
    assert resp.status_code == 200, resp.get_data(as_text=True)


def outbox(services: Services) -> list[OutboxMessage]:
    with services.session_factory() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def to(services: Services, target: str) -> list[str]:
    return [str(row.payload["content"]) for row in outbox(services) if row.target == target]


def test_a_deal_from_opening_to_formed_through_encrypted_callbacks(
    make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock
) -> None:
    services = make_services(write_yaml(tmp_path / "config.yaml", bot_config()))
    client = create_app(services).test_client()

    opened = ask(client, factories.aibot_text("开团 阳光玫瑰 价格=39.9 名额=2 截止=今晚20:00 成团=2", user="guide01"))
    with services.session_factory() as session:
        deal = session.scalars(select(Deal)).one()
    code = deal.code
    assert f"团号 {code}" in opened and "截止 11-22 20:00" in opened

    first = factories.aibot_text(f"接龙 {code}", user="lisi")
    assert "跟团号 1" in ask(client, first)
    assert "跟团号 1" in ask(client, first)  # WeCom's retry of the same msgid: the same answer, no second signup
    assert "跟团号 2" in ask(client, factories.aibot_text(f"报名 {code}", user="wangwu", chat=None))
    assert "候补第 1 位" in ask(client, factories.aibot_text(f"接龙 {code}", user="zhaoliu"))

    assert "已取消" in ask(client, factories.aibot_text(f"取消 {code}", user="wangwu", chat=None))
    (promoted,) = to(services, "zhaoliu")
    assert "候补转为正式报名" in promoted and "跟团号 3" in promoted

    roster = ask(client, factories.aibot_text(f"团购名单 {code}", user="guide01"))
    assert "1. lisi ×1" in roster and "3. zhaoliu ×1" in roster and "wangwu" not in roster
    assert f"{code}「阳光玫瑰」跟团号 1" in ask(client, factories.aibot_text("我的团购", user="lisi", chat=None))

    clock.set(deal.deadline_at)
    assert close_due_groupbuys(services.session_factory, services.config(), clock.now()) == 1
    (announcement,) = to(services, GROUP)
    assert "【成团】" in announcement and "2 人，共 2 份，¥79.80" in announcement
    assert "已截团" in ask(client, factories.aibot_text(f"接龙 {code}", user="sunqi"))
    with services.session_factory() as session:
        live = session.scalars(select(Signup).where(Signup.status != "cancelled").order_by(Signup.number)).all()
    assert [(s.user_id, s.number, s.status) for s in live] == [("lisi", 1, "confirmed"), ("zhaoliu", 3, "confirmed")]


def test_a_customer_group_deal_opened_by_a_guide_through_the_app_and_joined_one_to_one(
    make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock
) -> None:
    services = make_services(write_yaml(tmp_path / "config.yaml", bot_config()))
    client = create_app(services).test_client()

    tell_app(client, "开团 脐橙 价格=19.9 名额=10 截止=明天 12:00 成团=2 群=福田客户群", user="guide01")
    with services.session_factory() as session:
        deal = session.scalars(select(Deal)).one()
    assert deal.chat_id == CUSTOMER_GROUP
    (answer,) = to(services, "guide01")
    assert f"团号 {deal.code}" in answer
    (pushed,) = [row for row in outbox(services) if row.target == CUSTOMER_GROUP]
    assert pushed.channel == "group" and f"【团购 {deal.code}】脐橙" in str(pushed.payload["content"])

    # The bot cannot hear the customer group: the customer signs up 1:1 with the 团号.
    assert "跟团号 1" in ask(client, factories.aibot_text(f"接龙 {deal.code}", user="wmCustomer01", chat=None))
    clock.set(deal.deadline_at)
    assert close_due_groupbuys(services.session_factory, services.config(), clock.now()) == 1
    assert "【未成团】" in to(services, CUSTOMER_GROUP)[-1]
    relay = to(services, "guide01")[-1]
    assert "请转告客户 wmCustomer01" in relay and "没有成团" in relay
    assert to(services, "wmCustomer01") == []
