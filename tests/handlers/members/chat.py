"""A harness for groups, membership and welcome: a configured app, encrypted WeCom callbacks, what was queued."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from bot.app import create_app
from bot.clock import FrozenClock
from bot.services import Services
from models.membership import Membership, MembershipChange
from tests import factories
from tests.conftest import base_config, write_yaml
from tests.factories import ChatBot

CUSTOMER = "wrCustomerGroup01"
TEAM = "wrTeamGroup01"
STRANGER = "wrNotInYaml01"

GROUPS: list[dict[str, Any]] = [
    {"chat_id": CUSTOMER, "name": "社区福利1群", "kind": "customer", "guide": "guide01", "push": "customer_task"},
    {
        "chat_id": TEAM,
        "name": "团长群",
        "kind": "internal",
        "guide": "guide01",
        "push": "webhook",
        "webhook_key": "key-team",
        "welcome": "欢迎{names}来到{group}！\n{rules}",
        "rules": "团长群规：只聊团购。",
    },
]


@dataclass
class GroupBot(ChatBot):
    """The shared ChatBot, plus WeCom's join and leave callbacks and the membership rows."""

    client: FlaskClient | None = None

    def callback(self, plaintext: str) -> int:
        """POST the decrypted XML `plaintext` to /wecom/callback, encrypted and signed as WeCom does."""
        signed = factories.app_sender().xml_post(plaintext)
        assert self.client is not None
        resp = self.client.post(f"/wecom/callback?{signed.query_string}", data=signed.body, content_type="text/xml")
        return resp.status_code

    def now_ts(self) -> int:
        return int(self.clock.now().timestamp())

    def join(self, chat: str, users: list[str], **kw: Any) -> int:
        return self.callback(factories.make_member_joined(chat, users, create_time=self.now_ts(), **kw))

    def leave(self, chat: str, users: list[str], **kw: Any) -> int:
        return self.callback(factories.make_member_left(chat, users, create_time=self.now_ts(), **kw))

    def say(self, text: str, *, chat: str | None = TEAM, **kw: Any) -> str:
        """Send `text` (an @mention in `chat`, TEAM by default, or 1:1) and return what the member sees."""
        return super().say(text, chat=chat, **kw)

    def membership(self, chat: str, user: str) -> Membership | None:
        with self.services.session_factory() as session:
            return session.scalars(
                select(Membership).where(Membership.chat_id == chat, Membership.user_id == user)
            ).one_or_none()

    def changes(self, chat: str) -> list[tuple[str, str]]:
        with self.services.session_factory() as session:
            rows = session.scalars(
                select(MembershipChange).where(MembershipChange.chat_id == chat).order_by(MembershipChange.id)
            )
            return [(row.user_id, row.change) for row in rows]


def make_group_bot(
    make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock, **overrides: Any
) -> GroupBot:
    """A bot with GROUPS configured (guide01 guides both) and `overrides` applied to the top-level config."""
    data = {**base_config(), "groups": GROUPS, **overrides}
    services = make_services(write_yaml(tmp_path / f"config-{uuid.uuid4().hex[:6]}.yaml", data))
    return GroupBot(services, clock, client=create_app(services).test_client())
