"""A harness for reactivation: configured groups, members with a known last activity, passes on a frozen clock."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.clock import FrozenClock
from bot.config.core import Config
from bot.services import Services
from models.membership import join, set_display_name
from models.nudge import Nudge
from scheduler.reactivation.ladder import ReactivationSummary, in_holdout, run_reactivation
from tests.conftest import base_config, write_yaml
from tests.factories import ChatBot

TEAM = "wrTeam01"
TEAM2 = "wrTeam02"
SHOP = "wrShop01"
GUIDE = "guide01"
# 10:00 in Shanghai, outside the 21:30-08:30 quiet hours.
START = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)

GROUPS: list[dict[str, Any]] = [
    {"chat_id": TEAM, "name": "团长群", "kind": "internal", "guide": GUIDE, "push": "webhook", "webhook_key": "k1"},
    {"chat_id": TEAM2, "name": "团长二群", "kind": "internal", "push": "webhook", "webhook_key": "k2"},
    {"chat_id": SHOP, "name": "福利群", "kind": "customer", "guide": GUIDE, "push": "customer_task"},
]


def reactivation_settings(**overrides: Any) -> dict[str, Any]:
    """The ladder of the issue (7 mention, 14 note, 30 guide) with no holdout, no gap and generous caps."""
    settings: dict[str, Any] = {
        "enabled": True,
        "dormant_days": 7,
        "ladder": [
            {"after_days": 7, "action": "group_mention"},
            {"after_days": 14, "action": "private_note", "text": "{name}，回「{group}」签到领 50 积分！"},
            {"after_days": 30, "action": "tell_guide"},
        ],
        "catch_up_days": 3,
        "quiet_hours": {"start": "21:30", "end": "08:30"},
        "min_gap_hours": 0,
        "daily_cap_per_group": 100,
        "daily_cap_total": 1000,
        "holdout_percent": 0,
    }
    settings.update(overrides)
    return settings


@dataclass
class World(ChatBot):
    """The shared ChatBot, plus members joining at set times and reactivation passes."""

    @property
    def config(self) -> Config:
        return self.services.config()

    def member(self, chat: str, user: str, *, at: datetime | None = None, name: str | None = None) -> None:
        """`user` joins `chat` at `at` (default now) and is silent from then on."""
        when = at or self.clock.now()
        with self.services.session_factory.begin() as session:
            join(session, chat_id=chat, user_id=user, at=when, guide=self.config.group(chat).guide)  # type: ignore[union-attr]
            if name:
                set_display_name(session, user, name, when)

    def speak(self, chat: str | None, user: str, text: str = "大家好") -> None:
        """`user` writes in `chat` (None: 1:1 to the bot) now, through the real dispatcher."""
        self.send(text, user=user, chat=chat)

    def at_day(self, days: float, *, local: str = "10:00") -> None:
        """Set the clock to `days` after START at the Shanghai wall time `local`."""
        hour, minute = (int(part) for part in local.split(":"))
        day = START + timedelta(days=days)
        self.clock.set(day.replace(hour=0, minute=0) + timedelta(hours=hour - 8, minutes=minute))

    def run(self) -> ReactivationSummary:
        return run_reactivation(self.services.session_factory, self.config, self.clock.now())

    def nudges(self) -> list[Nudge]:
        with self.services.session_factory() as session:
            return list(session.scalars(select(Nudge).order_by(Nudge.id)))

    def sent_steps(self, user: str) -> list[tuple[str, int]]:
        return [(n.chat_id, n.step) for n in self.nudges() if n.user_id == user and n.outcome == "sent"]


def make_world(make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock, **settings: Any) -> World:
    clock.set(START)
    data = {**base_config(), "groups": GROUPS, "reactivation": reactivation_settings(**settings)}
    return World(make_services(write_yaml(tmp_path / f"config-{uuid.uuid4().hex[:6]}.yaml", data)), clock)


def users_by_holdout(salt: str, percent: float, count: int) -> tuple[list[str], list[str]]:
    """Return (`count` users in the holdout, `count` outside it) for this salt and share."""
    held: list[str] = []
    free: list[str] = []
    index = 0
    while len(held) < count or len(free) < count:
        user = f"user{index:03d}"
        (held if in_holdout(user, salt, percent) else free).append(user)
        index += 1
    return held[:count], free[:count]
