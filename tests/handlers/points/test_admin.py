"""加分 / 扣分 as guides use them: a recorded reason, never twice for one message, clear refusals."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from bot.clock import FrozenClock
from bot.services import Services
from models.ledger import PointsAccount, PointsEntry
from models.membership import set_display_name
from tests.conftest import count_rows
from tests.handlers.points.chat import GROUP, Bot, make_bot, make_renamed_bot


@pytest.fixture
def bot(make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock) -> Bot:
    bot = make_bot(make_services, tmp_path, clock)
    bot.say("大家好", user="lisi")  # speaking in the group makes lisi a member of it
    return bot


def test_guide_adds_points_with_reason_recorded(bot: Bot) -> None:
    reply = bot.say("加分 @lisi 15 晒单奖励", user="guide01", msg_id="msg-add-1")
    assert reply == "已为 lisi 加 15 分（晒单奖励），当前积分 15。"
    (entry,) = bot.entries()
    assert (entry.key, entry.delta, entry.reason, entry.note, entry.actor, entry.chat_id) == (
        "manual:msg-add-1",
        15,
        "manual",
        "晒单奖励",
        "guide01",
        GROUP,
    )


def test_target_may_be_named_without_at_and_reason_keeps_spaces(bot: Bot) -> None:
    """An admin may write the userid without @, the amount in full-width digits, and a reason of several words."""
    reply = bot.say("加分 lisi ５ 帮忙 解答 问题", user="boss")
    assert reply == "已为 lisi 加 5 分（帮忙 解答 问题），当前积分 5。"


def test_retried_callback_credits_once(bot: Bot, engine: Engine) -> None:
    """WeCom retrying the same message (same msgid) gets the same answer and no second credit."""
    first = bot.say("加分 @lisi 20 活动奖励", user="guide01", msg_id="msg-retry")
    second = bot.say("加分 @lisi 20 活动奖励", user="guide01", msg_id="msg-retry")
    assert first == second == "已为 lisi 加 20 分（活动奖励），当前积分 20。"
    assert count_rows(engine, PointsEntry) == 1


def test_deduct_takes_points_and_refuses_an_overdraft(bot: Bot) -> None:
    bot.say("加分 @lisi 20 活动奖励", user="guide01")
    assert bot.say("扣分 @lisi 5 刷屏", user="guide01") == "已为 lisi 扣 5 分（刷屏），当前积分 15。"
    assert bot.say("扣分 @lisi 16 刷屏", user="guide01") == "lisi 只有 15 分，不够扣 16 分。未做任何更改。"
    assert bot.balance("lisi") == (15, 20)  # a deduction lowers the balance, not what was earned
    assert [e.delta for e in bot.entries()] == [20, -5]


def test_deducting_from_a_member_without_points_creates_nothing(bot: Bot, engine: Engine) -> None:
    assert bot.say("扣分 @lisi 1 刷屏", user="guide01") == "lisi 只有 0 分，不够扣 1 分。未做任何更改。"
    assert count_rows(engine, PointsAccount) == 0
    assert count_rows(engine, PointsEntry) == 0


def test_manual_credit_reaching_a_tier_is_announced(bot: Bot) -> None:
    outcome = bot.send("加分 @lisi 100 年度之星", user="guide01")
    (row,) = bot.outbox()
    assert outcome.queued == 1
    assert (row.target, row.payload["content"], row.payload["mentions"]) == (
        GROUP,
        "恭喜 lisi 升级为「金卡」！",
        ["lisi"],
    )


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("加分 @lisi abc 奖励", "「abc」不是有效的分数，请填写 1 到 100000 之间的整数。未做任何更改。"),
        ("加分 @lisi -5 奖励", "「-5」不是有效的分数，请填写 1 到 100000 之间的整数。未做任何更改。"),
        ("加分 @lisi 0 奖励", "「0」不是有效的分数，请填写 1 到 100000 之间的整数。未做任何更改。"),
        ("加分 @lisi 2.5 奖励", "「2.5」不是有效的分数，请填写 1 到 100000 之间的整数。未做任何更改。"),
        ("扣分 @lisi 100001 奖励", "「100001」不是有效的分数，请填写 1 到 100000 之间的整数。未做任何更改。"),
        ("加分 @lisi 20", "请写明理由，例如「加分 @lisi 20 活动奖励」。未做任何更改。"),
        ("加分 @lisi", "用法：加分 @成员 分数 理由，例如「加分 @zhangsan 20 活动奖励」。"),
        ("加分", "用法：加分 @成员 分数 理由，例如「加分 @zhangsan 20 活动奖励」。"),
        (
            "加分 @stranger 20 奖励",
            "找不到群成员「stranger」（请用成员的企业微信账号，例如 @zhangsan）。未做任何更改。",
        ),
    ],
)
def test_bad_input_gets_a_clear_reply_and_changes_nothing(
    bot: Bot, engine: Engine, command: str, expected: str
) -> None:
    assert bot.say(command, user="guide01") == expected
    assert count_rows(engine, PointsEntry) == 0
    assert count_rows(engine, PointsAccount) == 0


def test_member_of_another_group_is_not_in_this_one(bot: Bot, engine: Engine) -> None:
    bot.say("你好", user="wangwu", chat="wrgroup0002")
    reply = bot.say("加分 @wangwu 20 奖励", user="guide01", chat=GROUP)
    assert reply.startswith("找不到群成员「wangwu」")
    # 1:1 with the bot, a guide may name a member of any group the bot serves.
    assert bot.say("加分 wangwu 20 奖励", user="guide01", chat=None).startswith("已为 wangwu 加 20 分")
    assert count_rows(engine, PointsEntry) == 1


def test_member_cannot_add_or_deduct(bot: Bot, engine: Engine) -> None:
    assert bot.say("加分 @lisi 20 自己加", user="lisi") == "「加分」只有导购可以使用。"
    assert bot.say("扣分 @lisi 20 试试", user="lisi") == "「扣分」只有导购可以使用。"
    assert count_rows(engine, PointsEntry) == 0


# --- names and input as WeCom delivers them --------------------------------------------------------


def name(bot: Bot, user: str, display: str) -> None:
    with bot.services.session_factory.begin() as session:
        set_display_name(session, user, display, bot.clock.now())


def test_at_display_name_credits_that_member(bot: Bot) -> None:
    """WeCom writes 「@张三」 (the display name) after @; it finds the one member of the group with that name."""
    name(bot, "lisi", "张三")
    reply = bot.say("加分 @张三\u200520 活动奖励", user="guide01")
    assert reply == "已为 张三 加 20 分（活动奖励），当前积分 20。"
    assert bot.say("扣分 @张三 5 刷屏", user="guide01") == "已为 张三 扣 5 分（刷屏），当前积分 15。"
    assert bot.balance("lisi") == (15, 20)


def test_a_name_shared_by_two_members_asks_for_the_userid(bot: Bot, engine: Engine) -> None:
    bot.say("你好", user="wangwu")
    name(bot, "lisi", "张三")
    name(bot, "wangwu", "张三")
    reply = bot.say("加分 @张三 20 活动奖励", user="guide01")
    assert reply == (
        "群里有 2 位成员叫「张三」（lisi、wangwu），请改用企业微信账号，例如「加分 @lisi 20 理由」。未做任何更改。"
    )
    assert count_rows(engine, PointsEntry) == 0


def test_a_name_outside_the_group_is_not_a_member(bot: Bot, engine: Engine) -> None:
    """Only current members of this group count: a namesake in another group is not found."""
    bot.say("你好", user="wangwu", chat="wrgroup0002")
    name(bot, "wangwu", "王五")
    reply = bot.say("加分 @王五 20 活动奖励", user="guide01")
    assert reply == "找不到群成员「王五」（请用成员的企业微信账号，例如 @zhangsan）。未做任何更改。"
    assert count_rows(engine, PointsEntry) == 0


def test_full_width_userid_and_amount_work(bot: Bot) -> None:
    assert bot.say("加分 ＠ｌｉｓｉ ２０ 活动奖励", user="guide01") == "已为 lisi 加 20 分（活动奖励），当前积分 20。"


def test_a_pasted_huge_amount_is_refused_not_a_crash(bot: Bot, engine: Engine) -> None:
    huge = "9" * 5000
    reply = bot.say(f"加分 @lisi {huge} 奖励", user="guide01")
    assert reply == f"「{huge}」不是有效的分数，请填写 1 到 100000 之间的整数。未做任何更改。"
    assert count_rows(engine, PointsEntry) == 0


def test_usage_names_the_renamed_commands(
    make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock
) -> None:
    bot = make_renamed_bot(make_services, tmp_path, clock, {"加分": "奖励", "扣分": "罚分"})
    assert bot.say("奖励", user="guide01") == "用法：奖励 @成员 分数 理由，例如「奖励 @zhangsan 20 活动奖励」。"
    assert bot.say("罚分 @lisi", user="guide01") == "用法：罚分 @成员 分数 理由，例如「罚分 @zhangsan 20 活动奖励」。"
    assert bot.say("奖励 @lisi 20", user="guide01") == "请写明理由，例如「奖励 @lisi 20 活动奖励」。未做任何更改。"
