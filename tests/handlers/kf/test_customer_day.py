"""A whole customer day through 微信客服: from a group's link to boards that show the customer."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from handlers.kf import kf_link
from handlers.kf.config import scene_param
from handlers.kf.links import make_link
from models import groupbuy, ledger
from models.activity import activity_counts
from models.quiz import QuizAnswer
from models.rewards import Redemption
from tests.handlers.kf.harness import CUSTOMER, GROUP, GROUP_NAME, KfWorld


def test_a_customer_day_counts_for_their_customer_group(world: KfWorld) -> None:
    # The admin makes the group's link; it carries the group's scene_param, and kf_link serves it from the cache.
    with world.factory.begin() as session:
        url = make_link(session, world.transport.api, world.services.config(), GROUP, world.clock.now())
    assert url.endswith(f"scene_param={scene_param(GROUP)}") and "enc_scene=" in url
    with world.factory() as session:
        assert kf_link(session, world.services.config(), GROUP) == url

    # The customer opens it in WeChat: the welcome names the group and shows the menu, on the one-shot code.
    (welcome,) = world.enters(scene_param=scene_param(GROUP))
    assert GROUP_NAME in welcome and "[签到 | 我的积分 | 我的团购 | 群规 | 帮助]" in welcome
    assert world.fake.kf_sent[-1].get("on_event") is True

    # Taps 签到: points for the day, counted in the customer group.
    (checked,) = world.says("签到", menu_id="checkin")
    assert "10" in checked
    # Asks 积分.
    (balance,) = world.says("积分")
    assert "10" in balance

    # A guide opens a deal for the customer group; the customer signs up by its 团号.
    opened = world.staff(f"开团 草莓 价格=39.9 名额=3 截止=2小时 成团=1 群={GROUP_NAME}")
    assert opened.passive_text or opened.queued
    with world.factory() as session:
        (deal,) = session.scalars(select(groupbuy.Deal)).all()
    (signed,) = world.says(f"接龙 {deal.code}")
    assert deal.code in signed
    with world.factory() as session:
        signups = session.scalars(select(groupbuy.Signup).where(groupbuy.Signup.user_id == CUSTOMER)).all()
    assert [s.deal_id for s in signups] == [deal.id] and signups[0].guide == "guide01"

    # A guide starts that group's quiz; the customer's plain answer is matched to it.
    world.staff(f"竞猜 开始 {GROUP_NAME} q001 60")
    (recorded,) = world.says("B")
    assert "答案" in recorded or "收到" in recorded
    with world.factory() as session:
        answers = session.scalars(select(QuizAnswer).where(QuizAnswer.user_id == CUSTOMER)).all()
    assert len(answers) == 1 and answers[0].correct

    # Redeems with the points of the day.
    replies = world.says("兑换 A01")
    assert replies and "帆布袋" in replies[0]
    with world.factory() as session:
        (redemption,) = session.scalars(select(Redemption)).all()
    assert redemption.user_id == CUSTOMER and redemption.chat_id == GROUP

    # The customer group's boards show them: points earned there and activity there.
    now = world.clock.now()
    with world.factory() as session:
        board = ledger.leaderboard(session, chat_id=GROUP, since=now - timedelta(days=1), limit=10)
        active = activity_counts(
            session, chat_id=GROUP, since=now - timedelta(days=1), until=now + timedelta(1), limit=10
        )
    assert CUSTOMER in [row[0] if isinstance(row, tuple) else row.user_id for row in board]
    assert CUSTOMER in [row[0] if isinstance(row, tuple) else row.user_id for row in active]
    # Every answer went through kf; none as an app message to a WeChat customer.
    assert not [b for b in world.fake.bodies("message/send") if b and b.get("touser") == CUSTOMER]
