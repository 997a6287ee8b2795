"""成员: a guide's figures for a group against a known history and a frozen clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.clock import FrozenClock
from bot.services import Services
from tests.handlers.members.chat import CUSTOMER, GroupBot, make_group_bot

# Sunday 2026-11-22 10:00 in Shanghai.
NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


@pytest.fixture
def bot(make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock) -> GroupBot:
    """A customer group with a history: 10 days, 3 days and hours ago, plus who spoke when."""
    bot = make_group_bot(make_services, tmp_path, clock, members={"silent_days": 7})
    bot.clock.set(datetime(2026, 11, 12, 2, 0, tzinfo=UTC))  # 10 days ago
    bot.join(CUSTOMER, ["wmOld1", "wmOld2", "wmOld3", "wmOld4"])
    bot.clock.set(datetime(2026, 11, 19, 2, 0, tzinfo=UTC))  # 3 days ago
    bot.join(CUSTOMER, ["wmWeek1", "wmWeek2"])
    bot.leave(CUSTOMER, ["wmOld4"])
    bot.clock.set(datetime(2026, 11, 20, 2, 0, tzinfo=UTC))
    bot.say("在吗", user="wmOld1", chat=CUSTOMER)  # wmOld1 spoke 2 days ago: not silent
    bot.clock.set(datetime(2026, 11, 21, 15, 30, tzinfo=UTC))  # 23:30 yesterday in Shanghai
    bot.join(CUSTOMER, ["wmYesterday"])
    bot.clock.set(datetime(2026, 11, 21, 16, 30, tzinfo=UTC))  # 00:30 today in Shanghai
    bot.join(CUSTOMER, ["wmToday1", "wmToday2"])
    bot.clock.set(datetime(2026, 11, 22, 1, 0, tzinfo=UTC))
    bot.leave(CUSTOMER, ["wmWeek2"])
    bot.clock.set(NOW)
    return bot


def test_figures_against_the_history(bot: GroupBot) -> None:
    """Members now 7; today (Shanghai) +2 −1; 7 days +5 −2; silent 7+ days: wmOld2 and wmOld3 only."""
    assert bot.say("成员 社区福利1群", user="guide01", chat=None) == (
        "「社区福利1群」成员 7 人\n今日：新进 2，退出 1\n近 7 天：新进 5，退出 2\n7 天以上未发言：2 人"
    )


def test_the_guide_asking_in_the_group_is_not_counted_as_a_member(bot: GroupBot) -> None:
    """Asked in the group, the guide is heard there, but staff stay out of member counts: still 7."""
    assert bot.say("成员", user="guide01", chat=CUSTOMER).startswith("「社区福利1群」成员 7 人\n今日：新进 2，退出 1")


def test_figures_one_to_one_by_name_or_chat_id(bot: GroupBot) -> None:
    """1:1 a guide (or admin) names the group by its YAML name or its chat id and gets the same figures."""
    by_name = bot.say("成员 社区福利1群", user="guide01", chat=None)
    by_id = bot.say(f"成员 {CUSTOMER}", user="boss", chat=None)
    assert by_name == by_id
    assert by_name.startswith("「社区福利1群」成员 7 人")


def test_one_to_one_without_a_group_asks_for_one(bot: GroupBot) -> None:
    """1:1 with no group named, the guide is told how to ask; an unknown name is refused."""
    assert bot.say("成员", user="guide01", chat=None) == "请在群里发送「成员」，或私聊发送「成员 群名」。"
    assert (
        bot.say("成员 不存在的群", user="guide01", chat=None)
        == "找不到群「不存在的群」，请写群的名字，例如「一号群」。"
    )


def test_members_cannot_see_the_figures(bot: GroupBot) -> None:
    """A member asking gets the permission text, not the figures."""
    assert bot.say("成员", user="wmOld1", chat=CUSTOMER) == "「成员」只有导购可以使用。"


def test_silent_days_from_config(make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock) -> None:
    """silent_days: 2 counts members quiet for two days or more."""
    bot = make_group_bot(make_services, tmp_path, clock, members={"silent_days": 2})
    bot.join(CUSTOMER, ["wmA", "wmB"])
    bot.clock.advance(days=1)
    bot.say("早", user="wmA", chat=CUSTOMER)
    bot.clock.advance(days=1, hours=1)
    assert bot.say("成员 社区福利1群", user="boss", chat=None).endswith("2 天以上未发言：1 人")
