"""Fixtures for outbound delivery: the fake WeCom server and a WeCom transport wired to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import FrozenClock
from bot.config.core import Config
from bot.transports.wecom import WecomTransport, build_wecom_transport
from models import OutboxMessage
from models import outbox as outbox_rows
from models.db import make_session_factory
from tests.factories import config_from
from tests.fake_wecom import CORP_ID, SECRET, FakeWecom, start_fake_wecom

WEBHOOK_KEY = "robot-key-0001"
GROUPS: list[dict[str, Any]] = [
    {"chat_id": "wr-internal", "name": "内部群", "push": "webhook", "webhook_key": WEBHOOK_KEY},
    {"chat_id": "wr-appchat", "name": "应用群", "push": "appchat"},
    {
        "chat_id": "wr-customer",
        "name": "客户群",
        "kind": "customer",
        "guide": "guide01",
        "push": "customer_task",
        "delivery": "task",
    },
    {"chat_id": "wr-console", "name": "演练群", "push": "console"},
]

TEXT: dict[str, Any] = {"msgtype": "text", "content": "你好", "mentions": []}


def queue_message(
    factory: sessionmaker[Session],
    clock: FrozenClock,
    channel: str = "app_message",
    target: str = "zhangsan",
    payload: dict[str, Any] | None = None,
) -> int:
    """Put one message in the outbox, due now, and return its row id."""
    with factory.begin() as session:
        kind = "chat" if channel == "group" else "user"
        return outbox_rows.add_message(
            session, channel=channel, target_kind=kind, target=target, payload=dict(payload or TEXT), now=clock.now()
        ).id


def outbox_row(factory: sessionmaker[Session], row_id: int) -> OutboxMessage:
    with factory() as session:
        found = session.get(OutboxMessage, row_id)
        assert found is not None
        return found


@pytest.fixture
def fake_wecom() -> Iterator[FakeWecom]:
    """A fake WeCom API on an ephemeral 127.0.0.1 port, recording every call."""
    fake, server, thread = start_fake_wecom()
    fake.webhook_keys.add(WEBHOOK_KEY)
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def wecom_config(fake: FakeWecom, **outbound: Any) -> Config:
    """A config that sends through the fake: quiet hours off and limits on unless `outbound` says otherwise."""
    settings: dict[str, Any] = {"quiet_hours": {"enabled": False}, "timeout_seconds": 2}
    settings.update(outbound)
    data = {
        "timezone": "Asia/Shanghai",
        "wecom": {"corp_id": CORP_ID, "secret": SECRET, "agent_id": "1000002", "api_base": fake.base_url},
        "outbox": {"transport": "wecom"},
        "roles": {"guides": ["guide01", "guide02"]},
        "outbound": settings,
        "groups": GROUPS,
    }
    return config_from(data)


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def make_wecom(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock
) -> Callable[..., WecomTransport]:
    """Build a WeCom transport (a fresh one each call, as a new process would) against the fake."""

    def make(config: Config | None = None, **outbound: Any) -> WecomTransport:
        current = config or wecom_config(fake_wecom, **outbound)
        return build_wecom_transport(lambda: current, factory, clock)

    return make
