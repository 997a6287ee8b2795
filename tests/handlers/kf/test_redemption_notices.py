"""A customer's redemption notice goes by 微信客服 while their window is open; after it, the guide passes it on."""

from __future__ import annotations

from sqlalchemy import select

from models.rewards import Redemption
from tests.handlers.kf.harness import CUSTOMER, KfWorld


def _redeem(world: KfWorld) -> int:
    world.says("签到")
    (answer,) = world.says("兑换 A01")
    assert "帆布袋" in answer
    with world.factory() as session:
        return max(r.id for r in session.scalars(select(Redemption).where(Redemption.user_id == CUSTOMER)))


def test_the_notice_reaches_the_customer_by_kf_inside_the_window(world: KfWorld) -> None:
    redemption = _redeem(world)
    settled = world.staff(f"兑换 完成 {redemption}", user="boss")
    assert "帆布袋" in settled.passive_text and "请转告" not in settled.passive_text
    world.deliver()
    assert any("已发放" in text for text in world.fake.kf_texts_to(CUSTOMER))
    assert not [b for b in world.fake.bodies("message/send") if b and b.get("touser") == CUSTOMER]


def test_after_the_window_the_guide_who_settles_is_asked_to_pass_it_on(world: KfWorld) -> None:
    redemption = _redeem(world)
    world.later(hours=49)
    before = len(world.fake.kf_texts_to(CUSTOMER))
    settled = world.staff(f"兑换 取消 {redemption}", user="boss")
    assert "48 小时回复期已过，请转告" in settled.passive_text and "已取消" in settled.passive_text
    world.deliver()
    assert world.fake.kf_texts_to(CUSTOMER)[before:] == []  # no kf message past the window, none failing
