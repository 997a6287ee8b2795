"""团购列表 · 改团 · signup fields · repeated 开团 · scope: the organiser's week, through the real dispatcher."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from bot.clock import FrozenClock
from bot.services import Services
from tests.handlers.groupbuy.chat import GROUP, Bot, make_bot
from tests.handlers.groupbuy.test_concurrency import live_signups, open_deal, pg_services, say
from tests.parallel import run_together


@pytest.fixture
def bot(make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock) -> Bot:
    return make_bot(make_services, tmp_path, clock)


def test_guides_list_open_deals_and_a_wrong_code_points_them_there(bot: Bot) -> None:
    assert "现在没有接龙中的团" in bot.say("团购列表", user="guide01")
    first = bot.open("草莓 价格=39.9 名额=3 截止=2小时")
    second = bot.open("苹果 价格=5 名额=9 截止=2小时 群=福田客户群", chat=None)
    bot.say(f"接龙 {first.code} 2", user="lisi")
    listed = bot.say("团购列表", user="guide01")
    assert f"{first.code}「草莓」一号群，已报 2/3 份" in listed
    assert f"{second.code}「苹果」福田客户群，已报 0/9 份" in listed
    wrong = bot.say("团购名单 T999", user="guide01")
    assert "团购列表" in wrong and "我的团购" not in wrong
    # A member who mistypes is pointed to their own deals instead.
    assert "我的团购" in bot.say("接龙 T999", user="lisi")
    assert "导购" in bot.say("团购列表", user="lisi")


def test_edit_changes_places_price_and_deadline_and_tells_members(bot: Bot) -> None:
    deal = bot.open("草莓 价格=39.9 名额=3 截止=2小时 限购=2")
    bot.say(f"接龙 {deal.code} 2", user="lisi")
    bot.say(f"接龙 {deal.code} 2", user="wangwu")  # waitlisted: only one place left
    refused = bot.say(f"改团 {deal.code} 名额=1", user="guide01", chat=None)
    assert "已经确认了 2 份" in refused and "没有改动" in refused
    assert bot.deal(deal.id).places == 3
    answer = bot.say(f"改团 {deal.code} 名额=4 价格=35 截止=明天 20:00", user="guide01", chat=None)
    assert "单价 ¥39.90 → ¥35" in answer and "名额 3 → 4 份" in answer and "截止 11-22 12:00 → 11-23 20:00" in answer
    changed = bot.deal(deal.id)
    assert (changed.places, changed.price_cents, changed.taken) == (4, 3500, 4)
    # More places promote the waitlist; the group and every signed-up member hear of the new terms.
    assert [s.status for s in bot.signups(deal.id)] == ["confirmed", "confirmed"]
    group_news = bot.sent_to(GROUP)
    assert any("【团购变更】" in text and "¥35" in text for text in group_news)
    assert any("【团购变更】" in text for text in bot.sent_to("lisi"))
    assert any("候补转为正式" in text for text in bot.sent_to("wangwu"))


def test_edit_refuses_bad_terms_unknown_codes_and_closed_deals(bot: Bot) -> None:
    deal = bot.open("草莓 价格=39.9 名额=3 截止=2小时 限购=2")
    assert "用法：改团" in bot.say(f"改团 {deal.code}", user="guide01")
    assert "开团后不能再改" in bot.say(f"改团 {deal.code} 成团=2", user="guide01")
    bad = bot.say(f"改团 {deal.code} 价格=abc", user="guide01")
    assert "价格「abc」无效" in bad and "未开团" not in bad and "没有改动" in bad
    assert "团购列表" in bot.say("改团 T999 名额=5", user="guide01")
    assert "导购" in bot.say(f"改团 {deal.code} 名额=5", user="lisi")
    bot.say(f"截团 {deal.code}", user="guide01")
    assert "已截团" in bot.say(f"改团 {deal.code} 名额=5", user="guide01")


def test_a_deal_asks_each_signup_for_its_fields_and_the_roster_shows_them(bot: Bot) -> None:
    deal = bot.open("草莓 价格=10 名额=9 截止=2小时 需要=自提点,电话")
    missing = bot.say(f"接龙 {deal.code} 2 自提点=东门", user="lisi")
    assert "需要写上「电话」" in missing and "未报名" in missing
    assert "不需要填写「颜色」" in bot.say(f"接龙 {deal.code} 颜色=红 自提点=东门 电话=1", user="lisi")
    joined = bot.say(f"接龙 {deal.code} 2 自提点=东门 电话＝13800000000", user="lisi")
    assert "接龙成功" in joined
    (signup,) = bot.signups(deal.id)
    assert signup.answer_map == {"自提点": "东门", "电话": "13800000000"} and signup.quantity == 2
    roster = bot.say(f"团购名单 {deal.code}", user="guide01")
    assert "自提点=东门 电话=13800000000" in roster
    plain = bot.open("苹果 价格=5 名额=9 截止=2小时")
    assert "不需要填写「备注」" in bot.say(f"接龙 {plain.code} 备注=快点", user="lisi")


def test_the_same_deal_opened_twice_within_minutes_asks_first(bot: Bot) -> None:
    terms = "草莓 价格=39.9 名额=3 截止=2小时"
    bot.open(terms)
    again = bot.say(f"开团 {terms}", user="guide01")
    assert "分钟内已经开过同样的团" in again and "确认" in again and len(bot.deals()) == 1
    assert "开团成功" in bot.say(f"开团 {terms} 确认", user="guide01") and len(bot.deals()) == 2
    bot.clock.advance(minutes=11)
    assert "开团成功" in bot.say(f"开团 {terms}", user="guide01") and len(bot.deals()) == 3


def test_opening_one_to_one_without_a_group_asks_which(bot: Bot) -> None:
    answer = bot.say("开团 草莓 价格=39.9 名额=3 截止=2小时", user="guide01", chat=None)
    assert "群=群名" in answer and "一号群、福田客户群" in answer and "未开团" in answer
    assert bot.deals() == []


def test_a_guide_manages_only_their_own_groups_deals(bot: Bot) -> None:
    deal = bot.open("草莓 价格=39.9 名额=3 截止=2小时")
    for text in (f"截团 {deal.code}", f"改团 {deal.code} 名额=5", f"团购名单 {deal.code}"):
        assert "只能管理自己负责的群" in bot.say(text, user="guide02", chat=None)
    assert "只能管理自己负责的群" in bot.say("开团 苹果 价格=5 名额=9 截止=2小时 群=一号群", user="guide02", chat=None)
    assert "现在没有接龙中的团" in bot.say("团购列表", user="guide02")
    assert bot.deal(deal.id).status == "open"
    # Admins act everywhere.
    assert "已截团" in bot.say(f"截团 {deal.code}", user="boss", chat=None)


def test_guide_scope_all_lets_every_guide_act_everywhere(
    make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock
) -> None:
    from tests.conftest import write_yaml
    from tests.handlers.groupbuy.chat import bot_config

    config = bot_config()
    config["roles"]["guide_scope"] = "all"
    services = make_services(write_yaml(tmp_path / "all.yaml", config))
    shared = Bot(services, clock)
    deal = shared.open("草莓 价格=39.9 名额=3 截止=2小时")
    assert "名额 3 → 5 份" in shared.say(f"改团 {deal.code} 名额=5", user="guide02")


def test_the_waitlist_in_the_roster_shows_quantities(bot: Bot) -> None:
    deal = bot.open("草莓 价格=10 名额=3 截止=2小时 限购=3")
    bot.say(f"接龙 {deal.code} 2", user="lisi")
    bot.say(f"接龙 {deal.code} 3", user="wangwu")
    assert "候补 1 人，共 3 份：wangwu×3" in bot.say(f"团购名单 {deal.code}", user="guide01")


@pytest.mark.postgres_only
def test_an_edit_racing_signups_never_drops_places_below_what_is_confirmed(
    wide_pg: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    """Forty signups and shrinking edits at once: every edit either fits what was confirmed before it or is refused."""
    services = pg_services(wide_pg, tmp_path, clock)
    deal = open_deal(services, 40)
    for i in range(10):
        say(services, f"接龙 {deal.code}", f"early{i}")
    sizes = [12, 15, 20, 25, 30, 35]
    actions = [("接龙", f"m{i:03d}", "") for i in range(30)] + [("改团", "guide01", f"名额={n}") for n in sizes]
    answers = run_together(
        len(actions),
        lambda i: (actions[i], say(services, f"{actions[i][0]} {deal.code} {actions[i][2]}", actions[i][1])),
    )
    from models.groupbuy import Deal

    with services.session_factory() as session:
        final = session.get(Deal, deal.id)
        assert final is not None
        places, taken = final.places, final.taken
    live = live_signups(services, deal.id)
    confirmed = sum(s.quantity for s in live if s.status == "confirmed")
    assert taken == confirmed <= places
    edits = [text for (kind, _u, _a), text in answers if kind == "改团"]
    assert all("已修改" in text or "不能改成" in text for text in edits)
    # Nobody vanished: 40 signups, confirmed then waitlisted in queue order.
    assert len(live) == 40
    assert [s.status for s in live] == ["confirmed"] * confirmed + ["waitlisted"] * (40 - confirmed)
