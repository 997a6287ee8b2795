"""A customer's side of 微信客服 against the fake WeCom: callbacks sealed as WeCom seals them, a puller, a drainer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from bot.app import create_app
from bot.clock import FrozenClock
from bot.dispatch import Outcome
from bot.events import Event
from bot.services import Services
from bot.transports.drainer import DrainReport, drain_once
from bot.transports.wecom import WecomTransport, build_wecom_transport
from handlers.kf import KfPuller
from handlers.kf.puller import PassReport
from tests import factories
from tests.conftest import base_config, write_yaml
from tests.fake_wecom import CORP_ID, SECRET, FakeWecom

KFID = "wkfakeaccount01"
GROUP = "wrcustomer0001"
GROUP_NAME = "幸福里1群"
OTHER_GROUP = "wrcustomer0002"
OTHER_NAME = "幸福里2群"
CUSTOMER = "wmcustomer0001"


def kf_config(database_url: str, fake: FakeWecom, **kf: Any) -> dict[str, Any]:
    data = base_config(database_url)
    data["wecom"].update({"corp_id": CORP_ID, "secret": SECRET, "api_base": fake.base_url})
    data["outbox"] = {"transport": "wecom", "max_attempts": 3}
    data["outbound"] = {"quiet_hours": {"enabled": False}, "timeout_seconds": 2}
    data["groups"] = [
        {"chat_id": GROUP, "name": GROUP_NAME, "kind": "customer", "guide": "guide01", "push": "customer_task"},
        {"chat_id": OTHER_GROUP, "name": OTHER_NAME, "kind": "customer", "guide": "guide01", "push": "customer_task"},
    ]
    data["kf"] = {"accounts": [{"open_kfid": KFID, "name": "小助手"}], **kf}
    data["points"] = {
        "checkin_points": 10,
        "rewards": [{"code": "A01", "name": "帆布袋", "cost": 10, "stock": 5, "per_member_limit": 1}],
    }
    data["quiz"] = {
        "questions": [
            {"id": "q001", "question": "几点前下单当日达？", "options": {"A": "10点", "B": "12点"}, "answers": ["B"]}
        ]
    }
    return data


@dataclass
class KfWorld:
    fake: FakeWecom
    services: Services
    clock: FrozenClock
    client: FlaskClient
    transport: WecomTransport
    puller: KfPuller

    @property
    def factory(self) -> sessionmaker[Session]:
        return self.services.session_factory

    def sealed(self, token: str, open_kfid: str = KFID) -> factories.Signed:
        """WeCom's kf_msg_or_event, sealed as WeCom seals it."""
        sender = factories.WecomSender(factories.APP_TOKEN, factories.APP_AES_KEY, CORP_ID)
        return sender.xml_post(factories.make_kf_event(token, open_kfid, corp_id=CORP_ID))

    def post(self, signed: factories.Signed) -> Any:
        return self.client.post(f"/wecom/callback?{signed.query_string}", data=signed.body, content_type="text/xml")

    def callback(self, token: str, open_kfid: str = KFID) -> Any:
        """WeCom's kf_msg_or_event, sealed, to /wecom/callback."""
        return self.post(self.sealed(token, open_kfid))

    def deliver(self) -> tuple[PassReport, DrainReport]:
        """What the service does after a callback: pull and handle, then drain the outbox."""
        pulled = self.puller.run_pass()
        drained = drain_once(self.factory, self.transport, self.services.config().outbox, self.clock)
        return pulled, drained

    def enters(self, user: str = CUSTOMER, *, scene_param: str = "", with_code: bool = True) -> list[str]:
        before = len(self.fake.kf_texts_to(user))
        token = self.fake.customer_enters(KFID, user, scene_param=scene_param, with_code=with_code)
        assert self.callback(token).status_code == 200
        self.deliver()
        return self.fake.kf_texts_to(user)[before:]

    def says(self, text: str = "", user: str = CUSTOMER, **kw: Any) -> list[str]:
        """The customer writes; return what they saw in answer."""
        before = len(self.fake.kf_texts_to(user))
        token = self.fake.customer_says(KFID, user, text, **kw)
        assert self.callback(token).status_code == 200
        self.deliver()
        return self.fake.kf_texts_to(user)[before:]

    def staff(self, text: str, user: str = "guide01") -> Outcome:
        """A guide's 1:1 command (console channel, answered passively)."""
        event = Event(
            kind="text",
            source="console",
            user_id=user,
            chat_id=None,
            at=self.clock.now(),
            text=text,
            msg_id=uuid.uuid4().hex,
        )
        return self.services.dispatcher.handle(event)

    def later(self, **delta: float) -> None:
        self.clock.advance(**delta)


def make_world(
    tmp_path: Path, make_services: Any, fake: FakeWecom, clock: FrozenClock, database_url: str, **kf: Any
) -> KfWorld:
    fake.kf_account(KFID)
    fake.now = lambda: clock.now().timestamp()
    path = write_yaml(tmp_path / "config.yaml", kf_config(database_url, fake, **kf))
    services = make_services(path)
    transport = build_wecom_transport(services.config, services.session_factory, clock)
    puller = KfPuller(transport.api, services.session_factory, services.config, clock, services.dispatcher.handle)
    return KfWorld(fake, services, clock, create_app(services).test_client(), transport, puller)
