"""积分, 排行 and 活跃榜 as members read them: balance, tier, rank, and boards with shared ranks for ties."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.clock import FrozenClock
from bot.services import Services
from tests.handlers.points.chat import OTHER_GROUP, Bot, local, make_bot, make_renamed_bot


@pytest.fixture
def bot(make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock) -> Bot:
    return make_bot(make_services, tmp_path, clock)


def grant(bot: Bot, user: str, amount: int, *, chat: str | None = None) -> None:
    """A guide credits `user` (who first speaks in the chat, which makes them a member)."""
    target_chat = chat or "wrgroup0001"
    bot.say("你好", user=user, chat=target_chat)
    reply = bot.say(f"加分 @{user} {amount} 活动奖励", user="guide01", chat=target_chat)
    assert reply.startswith(f"已为 {user} 加 {amount} 分"), reply


def test_points_shows_balance_tier_rank_and_next_tier(bot: Bot) -> None:
    """积分 answers the balance, total earned, tier (by earned) and overall rank, and how far the next tier is."""
    bot.at(local(2026, 11, 21, 9, 0)).say("签到")
    bot.at(local(2026, 11, 22, 9, 0)).say("签到")
    grant(bot, "wangwu", 50)
    reply = bot.say("积分")
    assert reply == "lisi 的积分：20 分（累计获得 20 分）\n等级：银卡\n总排名：第 2 名\n再获得 80 分升级为「金卡」。"


def test_points_before_any_points(bot: Bot) -> None:
    reply = bot.say("积分")
    assert reply == (
        "lisi 的积分：0 分（累计获得 0 分）\n等级：普通会员\n"
        "总排名：暂无排名，签到即可获得积分\n再获得 20 分升级为「银卡」。"
    )


def test_spending_does_not_demote(bot: Bot) -> None:
    """Tiers follow points ever earned, so redeeming a reward keeps 银卡."""
    grant(bot, "lisi", 40)
    assert bot.say("兑换 A01").startswith("兑换成功")
    reply = bot.say("积分")
    assert reply.startswith("lisi 的积分：10 分（累计获得 40 分）\n等级：银卡")


def test_board_orders_by_points_with_shared_ranks_and_titles(bot: Bot) -> None:
    """Ties share a rank (1, 1, 3) and are listed by userid; titles show next to names."""
    bot.clock.set(local(2026, 11, 22, 9, 0))  # a Sunday: this week began Monday 16th
    for user, amount in (("zhaoliu", 5), ("wangwu", 30), ("lisi", 30), ("sunqi", 100)):
        grant(bot, user, amount)
    assert bot.say("排行") == (
        "本群本周积分榜（前 10 名）：\n"
        "1. sunqi【金卡】  100 分\n"
        "2. lisi【银卡】  30 分\n"
        "2. wangwu【银卡】  30 分\n"
        "4. zhaoliu  5 分"
    )


def test_board_periods_and_scopes(bot: Bot) -> None:
    """本周 counts from Monday, 本月 from the 1st, 总榜 everything; 全部群 adds other groups."""
    bot.clock.set(local(2026, 10, 30, 9, 0))
    grant(bot, "old", 70)  # last month
    bot.clock.set(local(2026, 11, 10, 9, 0))
    grant(bot, "month", 40)  # this month, last week
    grant(bot, "elsewhere", 90, chat=OTHER_GROUP)
    bot.clock.set(local(2026, 11, 22, 9, 0))
    grant(bot, "week", 10)

    assert bot.say("排行").splitlines()[1:] == ["1. week  10 分"]
    assert bot.say("排行 本月").splitlines()[1:] == ["1. month【银卡】  40 分", "2. week  10 分"]
    assert bot.say("排行 总榜").splitlines()[1:] == [
        "1. old【银卡】  70 分",
        "2. month【银卡】  40 分",
        "3. week  10 分",
    ]
    everywhere = bot.say("排行 本月 全部群")
    assert everywhere.splitlines()[0] == "全部群本月积分榜（前 10 名）："
    assert everywhere.splitlines()[1] == "1. elsewhere【银卡】  90 分"
    # Asked 1:1 there is no group, so the board covers all groups.
    assert bot.say("排行 本月", chat=None) == everywhere


def test_board_size_comes_from_the_yaml(
    make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock
) -> None:
    bot = make_bot(make_services, tmp_path, clock, leaderboard_size=2)
    for user, amount in (("a1", 3), ("a2", 2), ("a3", 1)):
        grant(bot, user, amount)
    assert bot.say("排行").splitlines() == ["本群本周积分榜（前 2 名）：", "1. a1  3 分", "2. a2  2 分"]


def test_empty_board_and_bad_words(bot: Bot) -> None:
    assert bot.say("排行 本月") == "本群本月还没有人获得积分，发送「签到」抢第一！"
    assert bot.say("排行 昨天") == "用法：排行 [本周|本月|总榜] [全部群]，例如「排行 本月」。"


def test_activity_board_ranks_the_most_active(bot: Bot) -> None:
    """活跃榜 counts chat and check-ins in this group this week; ties share a rank; last week is gone.

    Bot commands are not chat: 签到 counts once (as a check-in) and asking for the board counts nothing.
    """
    bot.clock.set(local(2026, 11, 12, 9, 0))  # last week
    for _ in range(5):
        bot.say("上周的话", user="old")
    bot.clock.set(local(2026, 11, 22, 9, 0))
    for _ in range(3):
        bot.say("今天有什么活动", user="wangwu")
    bot.say("签到", user="lisi")  # one check-in, no message
    bot.say("积分", user="lisi")  # a command: not counted
    bot.say("在吗", user="sunqi")
    bot.say("好的", user="sunqi")
    bot.say("别的群", user="elsewhere", chat=OTHER_GROUP)
    bot.say("别的群", user="elsewhere", chat=OTHER_GROUP)
    bot.say("别的群", user="elsewhere", chat=OTHER_GROUP)
    bot.say("别的群", user="elsewhere", chat=OTHER_GROUP)
    bot.clock.advance(minutes=1)
    assert bot.say("活跃榜", user="zhaoliu").splitlines() == [
        "本群本周活跃榜（前 10 名，按发言、签到、答题、报名次数）：",
        "1. wangwu  3 次",
        "2. sunqi  2 次",
        "3. lisi  1 次",
    ]
    # The 活跃榜 asked above counted nothing either.
    assert bot.say("活跃榜", user="zhaoliu").splitlines()[1:] == ["1. wangwu  3 次", "2. sunqi  2 次", "3. lisi  1 次"]
    assert bot.say("活跃榜 全部群", user="zhaoliu").splitlines()[1] == "1. elsewhere  4 次"
    assert bot.say("活跃榜 总榜", user="zhaoliu").splitlines()[1] == "1. old  5 次"


def test_board_usage_names_the_renamed_commands(
    make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock
) -> None:
    bot = make_renamed_bot(make_services, tmp_path, clock, {"排行": "积分排名", "活跃榜": "热度榜"})
    assert bot.say("积分排名 昨天") == "用法：积分排名 [本周|本月|总榜] [全部群]，例如「积分排名 本月」。"
    assert bot.say("热度榜 昨天") == "用法：热度榜 [本周|本月|总榜] [全部群]，例如「热度榜 本月」。"


def test_commands_do_not_count_as_chat_on_the_activity_board(bot: Bot) -> None:
    """Asking for boards and balances all day is no participation; chatting is."""
    for command in ("积分", "排行", "活跃榜", "兑换", "帮助"):
        bot.say(command, user="wangwu")
    bot.say("今天有什么活动", user="sunqi")
    bot.clock.advance(minutes=1)
    assert bot.say("活跃榜", user="zhaoliu").splitlines()[1:] == ["1. sunqi  1 次"]
