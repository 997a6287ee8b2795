"""A small harness for the group-buy commands: a configured bot, a frozen clock, and what members and groups get."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.clock import FrozenClock
from bot.services import Services
from models import groupbuy
from models.groupbuy import Deal, Signup
from tests.conftest import base_config, write_yaml
from tests.factories import ChatBot

GROUP = "wrgroup0001"
CUSTOMER_GROUP = "wrcustomer01"

GROUPBUY: dict[str, Any] = {
    "close_when_full": False,
    "default_limit": 5,
    "points_per_signup": 0,
    "code_style": "number",
    "code_prefix": "T",
    "max_deadline_days": 30,
}


@dataclass
class Bot(ChatBot):
    """The shared ChatBot, plus opening deals and reading deals and signups."""

    def open(self, terms: str = "草莓 价格=39.9 名额=3 截止=2小时 成团=2 限购=2", **kw: Any) -> Deal:
        """Open a deal as guide01 and return it."""
        before = {d.id for d in self.deals()}
        answer = self.say(f"开团 {terms}", user=kw.pop("user", "guide01"), **kw)
        (deal,) = [d for d in self.deals() if d.id not in before] or [None]
        assert deal is not None, answer
        return deal

    def deals(self) -> list[Deal]:
        with self.services.session_factory() as session:
            return list(session.scalars(select(Deal).order_by(Deal.id)))

    def deal(self, deal_id: int) -> Deal:
        with self.services.session_factory() as session:
            found = session.get(Deal, deal_id)
            assert found is not None
            return found

    def signups(self, deal_id: int, status: str | None = None) -> list[Signup]:
        with self.services.session_factory() as session:
            return groupbuy.signups(session, deal_id, status)


def bot_config(**groupbuy_settings: Any) -> dict[str, Any]:
    """The test config with GROUPBUY (updated), an internal group and a customer group, both guided by guide01."""
    config = base_config()
    config["roles"] = {"admins": ["boss"], "guides": ["guide01", "guide02"]}
    return {
        **config,
        "groupbuy": {**GROUPBUY, **groupbuy_settings},
        "points": {"daily_earn_cap": 0},
        "groups": [
            {"chat_id": GROUP, "name": "一号群", "guide": "guide01"},
            {
                "chat_id": CUSTOMER_GROUP,
                "name": "福田客户群",
                "kind": "customer",
                "guide": "guide01",
                "push": "customer_task",
            },
        ],  # fmt: skip
    }


def make_bot(make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock, **settings: Any) -> Bot:
    path = write_yaml(tmp_path / f"config-{uuid.uuid4().hex[:6]}.yaml", bot_config(**settings))
    return Bot(make_services(path), clock)
