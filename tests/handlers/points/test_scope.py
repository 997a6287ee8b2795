"""Per-group permissions: a guide acts on their own groups and members; admins on all; staff stay off 活跃榜."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.clock import FrozenClock
from bot.services import Services
from models import rewards
from models.activity import record_activity
from models.membership import join
from tests.conftest import write_yaml
from tests.handlers.points.chat import GROUP, OTHER_GROUP, Bot, bot_config

QUESTIONS = [{"id": "q1", "question": "几点截单？", "answers": ["12点"]}]


def scoped_bot(make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock, **roles: Any) -> Bot:
    config = bot_config()
    config["roles"] = {"admins": ["boss"], "guides": ["guide01", "guide02"], **roles}
    config["groups"][1]["guide"] = "guide02"  # 二号群 is guide02's
    config["quiz"] = {"questions": QUESTIONS}
    bot = Bot(make_services(write_yaml(tmp_path / f"scope-{uuid.uuid4().hex[:6]}.yaml", config)), clock)
    with bot.services.session_factory.begin() as session:
        join(session, chat_id=GROUP, user_id="lisi", at=clock.now(), guide="guide01", join_scene=None)
        join(session, chat_id=OTHER_GROUP, user_id="wangwu", at=clock.now(), guide="guide02", join_scene=None)
    return bot


@pytest.fixture
def bot(make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock) -> Bot:
    return scoped_bot(make_services, tmp_path, clock)


def test_a_guide_adds_points_only_to_their_own_members(bot: Bot) -> None:
    assert "已为 lisi 加 5 分" in bot.say("加分 lisi 5 晒单", user="guide01", chat=None)
    refused = bot.say("加分 wangwu 5 晒单", user="guide01", chat=None)
    assert "不是" in refused or "找不到" in refused or "只能管理" in refused
    assert "只能管理自己负责的群" in bot.say("加分 wangwu 5 晒单", user="guide01", chat=OTHER_GROUP)
    assert bot.balance("wangwu") == (0, 0)
    assert "已为 wangwu 加 5 分" in bot.say("加分 wangwu 5 晒单", user="boss", chat=None)


def test_a_guide_settles_only_their_own_members_redemptions(bot: Bot) -> None:
    bot.say("加分 wangwu 100 活动", user="boss", chat=None)
    bot.say("兑换 B02", user="wangwu", chat=OTHER_GROUP)
    with bot.services.session_factory() as session:
        (redemption,) = rewards.list_redemptions(session)
    refused = bot.say(f"兑换 取消 {redemption.id}", user="guide01", chat=None)
    assert "只能管理自己负责的群" in refused and f"兑换单 #{redemption.id}" in refused
    assert bot.balance("wangwu")[0] == 85
    assert "已取消" in bot.say(f"兑换 取消 {redemption.id}", user="guide02", chat=None)
    assert bot.balance("wangwu")[0] == 100


def test_a_guide_starts_quizzes_only_in_their_own_groups(bot: Bot) -> None:
    assert "只能管理自己负责的群" in bot.say("竞猜 开始 q1", user="guide01", chat=OTHER_GROUP)
    assert "只能管理自己负责的群" in bot.say("竞猜 开始 二号群 q1", user="guide01", chat=None)
    assert "几点截单" in bot.say("竞猜 开始 q1", user="guide02", chat=OTHER_GROUP)


def test_guide_scope_all_lifts_the_limit(
    make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock
) -> None:
    bot = scoped_bot(make_services, tmp_path, clock, guide_scope="all")
    assert "已为 wangwu 加 5 分" in bot.say("加分 wangwu 5 晒单", user="guide01", chat=OTHER_GROUP)


def test_staff_stay_off_the_activity_board_unless_configured(
    make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock
) -> None:
    for staff_on_boards in (False, True):
        bot = scoped_bot(make_services, tmp_path, clock, staff_on_boards=staff_on_boards)
        with bot.services.session_factory.begin() as session:
            for user, count in (("guide01", 9), ("lisi", 3)):
                for _ in range(count):
                    at = clock.now() - timedelta(hours=1)
                    record_activity(session, chat_id=GROUP, user_id=user, at=at, kind="message")
        board = bot.say("活跃榜", user="lisi")
        assert "lisi" in board
        assert ("guide01" in board) is staff_on_boards
