"""A small harness for the points commands: a configured bot, a frozen clock, and what members see."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.clock import FrozenClock
from bot.services import Services
from models import ledger
from tests.conftest import base_config, write_yaml
from tests.factories import ChatBot

SHANGHAI = ZoneInfo("Asia/Shanghai")
GROUP = "wrgroup0001"
OTHER_GROUP = "wrgroup0002"

POINTS: dict[str, Any] = {
    "reset_hour": 0,
    "checkin_points": 10,
    "streak_bonuses": {3: 5},
    "streak_repeat": False,
    "daily_earn_cap": 0,
    "leaderboard_size": 10,
    "tiers": [{"name": "银卡", "min_earned": 20}, {"name": "金卡", "min_earned": 100}],
    "rewards": [
        {"code": "A01", "name": "定制帆布袋", "cost": 30, "stock": 2, "per_member_limit": 1},
        {"code": "B02", "name": "满100减20券", "cost": 15, "stock": 10, "per_member_limit": 3},
    ],
}


def local(*args: int) -> datetime:
    """A Shanghai wall-clock time."""
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


@dataclass
class Bot(ChatBot):
    """The shared ChatBot, plus the ledger's entries."""

    def entries(self) -> list[ledger.PointsEntry]:
        with self.services.session_factory() as session:
            return ledger.entries(session)


def make_bot(make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock, **points: Any) -> Bot:
    """A bot whose `points:` section is POINTS updated with `points`, and GROUP guided by guide01."""
    path = write_yaml(tmp_path / f"config-{uuid.uuid4().hex[:6]}.yaml", bot_config(**points))
    return Bot(make_services(path), clock)


def bot_config(**points: Any) -> dict[str, Any]:
    """The test config with POINTS (updated with `points`) and two groups guided by guide01."""
    return {
        **base_config(),
        "points": {**POINTS, **points},
        "groups": [
            {"chat_id": GROUP, "name": "一号群", "guide": "guide01"},
            {"chat_id": OTHER_GROUP, "name": "二号群", "guide": "guide01"},
        ],
    }


def make_renamed_bot(
    make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock, renames: dict[str, str]
) -> Bot:
    """A bot whose `commands:` section renames each built-in command of `renames` to the new word."""
    config = {**bot_config(), "commands": {old: {"name": new} for old, new in renames.items()}}
    path = write_yaml(tmp_path / f"config-{uuid.uuid4().hex[:6]}.yaml", config)
    return Bot(make_services(path), clock)
