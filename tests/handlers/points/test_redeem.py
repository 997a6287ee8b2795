"""兑换 as members and guides use it: catalogue, redeem, the guide's note, fulfil, cancel with a refund."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine

from bot.clock import FrozenClock
from bot.services import Services
from models import ledger, rewards
from models.ledger import PointsEntry
from models.rewards import Redemption
from tests.conftest import count_rows
from tests.handlers.points.chat import POINTS, Bot, make_bot, make_renamed_bot
from tests.parallel import run_together


@pytest.fixture
def bot(make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock) -> Bot:
    bot = make_bot(make_services, tmp_path, clock)
    bot.say("大家好", user="lisi")
    return bot


def fund(bot: Bot, user: str, amount: int) -> None:
    bot.say("在吗", user=user)
    assert bot.say(f"加分 @{user} {amount} 活动奖励", user="guide01").startswith("已为")


def redeem_id(reply: str) -> int:
    found = re.search(r"兑换编号 (\d+)", reply)
    assert found, reply
    return int(found.group(1))


def test_catalogue_lists_rewards_with_stock_and_balance(bot: Bot) -> None:
    fund(bot, "lisi", 40)
    bot.say("兑换 A01")
    assert bot.say("兑换") == (
        "可兑换的奖品（发送「兑换 代码」），你现在有 10 分：\n"
        "· A01 定制帆布袋：30 分，剩余 1 份\n"
        "· B02 满100减20券：15 分，剩余 10 份"
    )


def test_redeem_deducts_points_and_notifies_the_guide(bot: Bot) -> None:
    """The member is answered at once; the guide gets a 1:1 note with the number to fulfil or cancel."""
    fund(bot, "lisi", 40)
    outcome = bot.send("兑换 a01")  # codes are case-insensitive
    rid = redeem_id(outcome.passive_text)
    assert outcome.passive_text == f"兑换成功！定制帆布袋 扣 30 分，当前积分 10。兑换编号 {rid}，导购会尽快联系你。"
    assert bot.balance("lisi") == (10, 40)
    (note,) = [row for row in bot.outbox() if row.target_kind == "user"]
    assert note.target == "guide01"
    assert note.payload["content"] == (
        f"【兑换待处理】lisi（lisi）兑换了 定制帆布袋（30 分），编号 {rid}。"
        f"发放后发送「兑换 完成 {rid}」，取消并退还积分发送「兑换 取消 {rid}」。"
    )


@pytest.mark.parametrize(
    ("points", "command", "expected"),
    [
        (0, "兑换 ZZZ", "没有代码为「ZZZ」的奖品，发送「兑换」查看奖品列表。"),
        (29, "兑换 A01", "积分不足：定制帆布袋 需要 30 分，你现在有 29 分。"),
        (0, "兑换 A01", "积分不足：定制帆布袋 需要 30 分，你现在有 0 分。"),
        (0, "兑换 A01 B02", "用法：兑换 代码；导购处理：兑换 完成 编号 / 兑换 取消 编号。"),
    ],
)
def test_refused_redemption_says_why_and_changes_nothing(
    bot: Bot, engine: Engine, points: int, command: str, expected: str
) -> None:
    if points:
        fund(bot, "lisi", points)
    rows_before = count_rows(engine, PointsEntry)
    assert bot.say(command) == expected
    assert count_rows(engine, PointsEntry) == rows_before
    assert count_rows(engine, Redemption) == 0
    assert bot.balance("lisi") == (points, points)
    assert [row for row in bot.outbox() if row.target == "guide01"] == []


def test_sold_out_and_per_member_limit(bot: Bot) -> None:
    fund(bot, "lisi", 100)
    fund(bot, "wangwu", 100)
    fund(bot, "zhaoliu", 100)
    assert bot.say("兑换 A01").startswith("兑换成功")
    assert bot.say("兑换 A01") == "定制帆布袋 每人限兑 1 份，你已经兑换过了。"
    assert bot.say("兑换 A01", user="wangwu").startswith("兑换成功")
    assert bot.say("兑换 A01", user="zhaoliu") == "定制帆布袋 已经兑完了，发送「兑换」看看其他奖品吧。"
    assert bot.balance("zhaoliu") == (100, 100)


def test_guide_fulfils_and_the_member_is_told(bot: Bot) -> None:
    fund(bot, "lisi", 40)
    rid = redeem_id(bot.say("兑换 A01"))
    outcome = bot.send(f"兑换 完成 {rid}", user="guide01", chat=None)
    assert outcome.passive_text == f"兑换 {rid}（lisi 的 定制帆布袋）已标记为已发放。"
    member_note = bot.outbox()[-1]
    assert (member_note.target, member_note.payload["content"]) == (
        "lisi",
        f"你兑换的 定制帆布袋（编号 {rid}）已发放，请注意查收～",
    )
    assert bot.say(f"兑换 取消 {rid}", user="guide01") == f"兑换 {rid} 已是「已发放」，不能再更改。"
    assert bot.balance("lisi") == (10, 40)


def test_guide_cancels_and_points_and_stock_come_back(bot: Bot, engine: Engine) -> None:
    fund(bot, "lisi", 40)
    rid = redeem_id(bot.say("兑换 A01"))
    reply = bot.say(f"兑换 取消 {rid}", user="guide01")
    assert reply == f"兑换 {rid}（lisi 的 定制帆布袋）已取消，30 分已退还。"
    assert bot.outbox()[-1].payload["content"] == f"你兑换的 定制帆布袋（编号 {rid}）已取消，30 分已退回，当前积分 40。"
    assert bot.balance("lisi") == (40, 40)
    with bot.services.session_factory() as session:
        assert rewards.remaining(session, ["A01"]) == {"A01": 2}
    assert [e.key for e in bot.entries()][-2:] == [f"redeem:{rid}", f"refund:{rid}"]


def test_settling_needs_a_guide_and_a_real_number(bot: Bot, engine: Engine) -> None:
    fund(bot, "lisi", 40)
    rid = redeem_id(bot.say("兑换 A01"))
    assert bot.say(f"兑换 取消 {rid}") == "「兑换 取消」只有导购可以使用。"
    assert bot.say(f"兑换 完成 {rid}") == "「兑换 完成」只有导购可以使用。"
    assert bot.say("兑换 完成 abc", user="guide01") == "「abc」不是有效的兑换编号，例如「兑换 完成 12」。"
    assert bot.say("兑换 完成 999", user="guide01") == "没有编号为 999 的兑换。"
    with bot.services.session_factory() as session:
        assert [r.status for r in rewards.list_redemptions(session)] == ["pending"]
    assert bot.balance("lisi") == (10, 40)


# --- concurrency through the whole path ------------------------------------------------------------


def last_unit_through_dispatcher(bot: Bot, workers: int) -> None:
    """`workers` funded members send 兑换 A01 at once when one unit is left: one winner, stock 0."""
    with bot.services.session_factory.begin() as session:
        for i in range(workers):
            ledger.post(session, user_id=f"m{i:02d}", delta=30, reason="quiz", key=f"seed:{i}", actor="t",
                        at=bot.clock.now(), day=date(2026, 11, 22))  # fmt: skip
        rewards.sync_stock(session, "A01", 2)
    with bot.services.session_factory.begin() as session:
        session.execute(update(rewards.RewardStock).values(remaining=1))
    replies = run_together(workers, lambda i: bot.say("兑换 A01", user=f"m{i:02d}"))
    assert sum(r.startswith("兑换成功") for r in replies) == 1
    assert sum(r == "定制帆布袋 已经兑完了，发送「兑换」看看其他奖品吧。" for r in replies) == workers - 1
    with bot.services.session_factory() as session:
        assert rewards.remaining(session, ["A01"]) == {"A01": 0}
        assert len(rewards.list_redemptions(session)) == 1
        assert sorted(ledger.account_of(session, f"m{i:02d}")[0] for i in range(workers)) == [0] + [30] * (workers - 1)
        assert ledger.audit(session) == []


def test_fifty_members_redeem_the_last_unit_through_the_bot_on_postgresql(
    wide_pg: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    from bot.services import build_services
    from tests.conftest import write_yaml
    from tests.factories import load_handlers
    from tests.handlers.points.chat import bot_config

    path = write_yaml(tmp_path / "config.yaml", bot_config())
    services = build_services(str(path), registry=load_handlers(), clock=clock, engine=wide_pg)
    last_unit_through_dispatcher(Bot(services, clock), 50)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_fifty_members_redeem_the_last_unit_through_the_bot_on_sqlite(bot: Bot) -> None:
    last_unit_through_dispatcher(bot, 50)


# --- input as guides and members really type it ----------------------------------------------------


@pytest.mark.parametrize("word", ["完成", "取消"])
@pytest.mark.parametrize("number", ["99999999999999999999", "2147483648", "9" * 5000, "0"])
def test_an_impossible_redemption_number_gets_a_clear_reply(bot: Bot, word: str, number: str) -> None:
    """A number no redemption can have is refused in Chinese and changes nothing (no 500 for WeCom to retry)."""
    fund(bot, "lisi", 40)
    rid = redeem_id(bot.say("兑换 A01"))
    assert bot.say(f"兑换 {word} {number}", user="guide01") == f"「{number}」不是有效的兑换编号，例如「兑换 完成 12」。"
    with bot.services.session_factory() as session:
        assert [(r.id, r.status) for r in rewards.list_redemptions(session)] == [(rid, "pending")]
    assert bot.balance("lisi") == (10, 40)


def test_full_width_code_and_number_work(bot: Bot) -> None:
    """A Chinese keyboard's full-width 「Ａ０１」 and 「１２」 mean A01 and 12."""
    fund(bot, "lisi", 40)
    rid = redeem_id(bot.say("兑换 Ａ０１"))
    wide_id = str(rid).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    reply = bot.say(f"兑换 完成 {wide_id}", user="guide01")
    assert reply == f"兑换 {rid}（lisi 的 定制帆布袋）已标记为已发放。"


def test_catalogue_shows_a_restock_at_once(
    bot: Bot, make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock
) -> None:
    """After the admin raises A01's stock from 2 to 5 in the YAML, 兑换 lists the new units before anyone redeems."""
    fund(bot, "lisi", 40)
    fund(bot, "wangwu", 40)
    bot.say("兑换 A01")
    bot.say("兑换 A01", user="wangwu")
    assert bot.say("兑换").splitlines()[1] == "· A01 定制帆布袋：30 分，剩余 0 份"
    restocked = [{**POINTS["rewards"][0], "stock": 5}, POINTS["rewards"][1]]
    after = make_bot(make_services, tmp_path, clock, rewards=restocked)
    assert after.say("兑换").splitlines()[1] == "· A01 定制帆布袋：30 分，剩余 3 份"


def test_texts_name_the_renamed_command(
    make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock
) -> None:
    """With 兑换 renamed to 换礼 in `commands:`, every hint tells members and guides to type 换礼."""
    bot = make_renamed_bot(make_services, tmp_path, clock, {"兑换": "换礼"})
    bot.say("大家好", user="lisi")
    assert bot.say("换礼 A01 B02") == "用法：换礼 代码；导购处理：换礼 完成 编号 / 换礼 取消 编号。"
    assert bot.say("换礼 完成 1") == "「换礼 完成」只有导购可以使用。"
    assert bot.say("换礼 取消 x", user="guide01") == "「x」不是有效的兑换编号，例如「换礼 完成 12」。"
    assert bot.say("换礼").startswith("可兑换的奖品（发送「换礼 代码」）")
    assert bot.say("换礼 ZZZ") == "没有代码为「ZZZ」的奖品，发送「换礼」查看奖品列表。"
