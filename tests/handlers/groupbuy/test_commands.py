"""开团 · 接龙 · 取消 · 截团 as guides and members use them, with a frozen clock, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.clock import FrozenClock
from bot.services import Services
from handlers.groupbuy.commands import close_due_groupbuys
from models import ledger
from models.activity import ActivityHour
from models.membership import join, set_display_name
from tests.conftest import count_rows
from tests.handlers.groupbuy.chat import CUSTOMER_GROUP, GROUP, Bot, make_bot


@pytest.fixture
def bot(make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock) -> Bot:
    return make_bot(make_services, tmp_path, clock)


def close_due(bot: Bot) -> int:
    return close_due_groupbuys(bot.services.session_factory, bot.services.config(), bot.clock.now())


def test_guide_opens_a_deal_and_gets_a_code_and_a_summary_to_copy(bot: Bot) -> None:
    answer = bot.say("开团 阳光玫瑰葡萄 价格=39.9 名额=50 截止=今晚20:00 成团=10 限购=2", user="guide01")
    (deal,) = bot.deals()
    assert deal.code == f"T{deal.id}" and deal.price_cents == 3990 and deal.places == 50
    assert f"团号 {deal.code}" in answer
    assert "单价 ¥39.90" in answer and "名额 50 份" in answer and "10 人成团" in answer and "限购 2 份" in answer
    assert "截止 11-22 20:00" in answer and f"接龙 {deal.code} 数量" in answer


def test_a_member_cannot_open_a_deal(bot: Bot) -> None:
    answer = bot.say("开团 草莓 价格=39.9 名额=50 截止=2小时", user="lisi")
    assert "导购" in answer
    assert bot.deals() == [] and bot.outbox() == []


@pytest.mark.parametrize(
    ("terms", "fragment"),
    [
        ("草莓 价格=39.9 名额=50 截止=今天 08:00", "已经过了"),
        ("草莓 价格=39.9 名额=50 截止=下周吧", "看不懂"),
        ("草莓 价格=0 名额=50 截止=2小时", "必须大于 0"),
        ("草莓 价格=-3 名额=50 截止=2小时", "必须大于 0"),
        ("草莓 价格=39.9 名额=0 截止=2小时", "名额「0」必须在 1 到"),
        ("草莓 价格=39.9 名额=-1 截止=2小时", "名额「-1」必须在 1 到"),
        ("草莓 价格=39.9 名额=5 截止=2小时 群=不存在的群", "找不到群"),
    ],
)
def test_bad_terms_get_a_clear_reply_and_open_nothing(bot: Bot, terms: str, fragment: str) -> None:
    answer = bot.say(f"开团 {terms}", user="guide01")
    assert fragment in answer and "未开团" in answer
    assert bot.deals() == [] and bot.outbox() == []


def test_signups_get_stable_numbers_and_the_full_deal_waitlists(bot: Bot) -> None:
    deal = bot.open("草莓 价格=39.9 名额=3 截止=2小时 成团=2 限购=2")
    first = bot.say(f"接龙 {deal.code} 2", user="lisi")
    assert "跟团号 1" in first and "2 份共 ¥79.80" in first and "剩余名额 1 份" in first
    waiting = bot.say(f"报名 {deal.code} 2", user="wangwu")
    assert "候补" in waiting and "跟团号 2" in waiting and "候补第 1 位" in waiting
    fits = bot.say(f"接龙 {deal.code.lower()}", user="zhaoliu")  # one place is left: a single unit still fits
    assert "跟团号 3" in fits and "剩余名额 0 份" in fits
    late = bot.say(f"接龙 {deal.code}", user="sunqi")
    assert "候补第 2 位" in late
    assert [(s.user_id, s.number, s.status) for s in bot.signups(deal.id)] == [
        ("lisi", 1, "confirmed"),
        ("wangwu", 2, "waitlisted"),
        ("zhaoliu", 3, "confirmed"),
        ("sunqi", 4, "waitlisted"),
    ]
    assert bot.deal(deal.id).taken == 3


def test_signing_up_twice_keeps_one_signup(bot: Bot) -> None:
    deal = bot.open()
    bot.say(f"接龙 {deal.code}", user="lisi")
    again = bot.say(f"接龙 {deal.code}", user="lisi")
    assert "已经报名" in again and "跟团号 1" in again
    assert len(bot.signups(deal.id)) == 1 and bot.deal(deal.id).taken == 1


def test_cancelling_promotes_the_waitlist_in_order_and_tells_the_promoted_member(bot: Bot) -> None:
    deal = bot.open("草莓 价格=39.9 名额=2 截止=2小时 限购=2")
    bot.say(f"接龙 {deal.code} 2", user="lisi")
    bot.say(f"接龙 {deal.code} 1", user="wangwu")
    bot.say(f"接龙 {deal.code} 1", user="zhaoliu")
    answer = bot.say(f"取消 {deal.code}", user="lisi")
    assert "已取消" in answer and "跟团号 1" in answer
    assert [(s.user_id, s.status) for s in bot.signups(deal.id, "confirmed")] == [("wangwu", "confirmed"),
                                                                                  ("zhaoliu", "confirmed")]  # fmt: skip
    (note,) = bot.sent_to("wangwu")
    assert "候补转为正式报名" in note and "跟团号 2" in note and "¥39.90" in note
    assert len(bot.sent_to("zhaoliu")) == 1 and bot.sent_to("lisi") == []
    assert bot.deal(deal.id).taken == 2


def test_a_cancelled_member_who_signs_up_again_keeps_their_number_and_queues_at_the_back(bot: Bot) -> None:
    deal = bot.open("草莓 价格=10 名额=1 截止=2小时")
    bot.say(f"接龙 {deal.code}", user="lisi")
    bot.say(f"接龙 {deal.code}", user="wangwu")
    bot.say(f"取消 {deal.code}", user="lisi")  # wangwu is promoted
    again = bot.say(f"接龙 {deal.code}", user="lisi")
    assert "跟团号 1" in again and "候补第 1 位" in again
    assert {s.user_id: s.status for s in bot.signups(deal.id)} == {"lisi": "waitlisted", "wangwu": "confirmed"}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("接龙 T1 3", "每人限购 2 份"),
        ("接龙 T1 0", "数量「0」无效"),
        ("接龙 T1 -1", "数量「-1」无效"),
        ("接龙 T1 两份", "数量「两份」无效"),
        ("接龙 T99", "没有团号「T99」"),
        ("接龙 ＄＄", "没有团号"),
        ("取消 T99", "没有团号「T99」"),
        ("取消 T1", "你没有报名团购 T1"),
    ],
)
def test_bad_signups_get_a_clear_reply_and_change_nothing(bot: Bot, text: str, fragment: str) -> None:
    deal = bot.open()
    answer = bot.say(text.replace("T1", deal.code), user="lisi")
    assert fragment.replace("T1", deal.code) in answer
    assert bot.signups(deal.id) == [] and bot.deal(deal.id).taken == 0
    assert count_rows(bot.services.engine, ActivityHour) == 0


def test_closed_deals_take_no_signups_or_cancellations(bot: Bot) -> None:
    deal = bot.open()
    bot.say(f"接龙 {deal.code}", user="lisi")
    bot.say(f"截团 {deal.code}", user="guide01")
    assert "已截团" in bot.say(f"接龙 {deal.code}", user="wangwu")
    assert "已截团" in bot.say(f"取消 {deal.code}", user="lisi")
    assert [(s.user_id, s.status) for s in bot.signups(deal.id)] == [("lisi", "confirmed")]


def test_after_the_deadline_signups_and_cancels_are_refused_even_before_the_closer_runs(bot: Bot) -> None:
    deal = bot.open("草莓 价格=10 名额=5 截止=2小时")
    bot.say(f"接龙 {deal.code}", user="wangwu")
    bot.clock.advance(hours=2, seconds=1)
    assert "已截团" in bot.say(f"接龙 {deal.code}", user="lisi")
    assert "已截团" in bot.say(f"取消 {deal.code}", user="wangwu")
    assert [(s.user_id, s.status) for s in bot.signups(deal.id)] == [("wangwu", "confirmed")]


def test_deadline_close_of_a_formed_deal_announces_once_and_credits_points(
    make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock
) -> None:
    bot = make_bot(make_services, tmp_path, clock, points_per_signup=20)
    deal = bot.open("草莓 价格=39.9 名额=3 截止=2小时 成团=2")
    bot.say(f"接龙 {deal.code} 2", user="lisi")
    bot.say(f"接龙 {deal.code}", user="wangwu")
    bot.say(f"接龙 {deal.code}", user="zhaoliu")  # waitlisted
    bot.clock.advance(hours=1)
    assert close_due(bot) == 0  # not due yet
    bot.clock.advance(hours=1)
    assert close_due(bot) == 1
    assert close_due(bot) == 0
    closed = bot.deal(deal.id)
    assert (closed.status, closed.outcome, closed.closed_by) == ("closed", "formed", "deadline")
    (announcement,) = bot.sent_to(GROUP)
    assert "【成团】" in announcement and "2 人，共 3 份，¥119.70" in announcement
    assert bot.sent_to("lisi") == [] and bot.sent_to("wangwu") == []
    (missed,) = bot.sent_to("zhaoliu")
    assert "没有递补到你" in missed
    with bot.services.session_factory() as session:
        assert ledger.account_of(session, "lisi")[0] == 20 and ledger.account_of(session, "wangwu")[0] == 20
        assert ledger.account_of(session, "zhaoliu")[0] == 0


def test_deadline_close_of_a_deal_short_of_its_threshold_tells_the_group_and_every_member(bot: Bot) -> None:
    deal = bot.open("草莓 价格=39.9 名额=2 截止=2小时 成团=2 限购=2")
    bot.say(f"接龙 {deal.code} 2", user="lisi")
    bot.say(f"接龙 {deal.code}", user="wangwu")  # waitlisted
    bot.clock.advance(hours=3)
    assert close_due(bot) == 1
    assert bot.deal(deal.id).outcome == "not_formed"
    (announcement,) = bot.sent_to(GROUP)
    assert "【未成团】" in announcement and "只有 1 人" in announcement and "未达到 2 人" in announcement
    for member in ("lisi", "wangwu"):
        (note,) = bot.sent_to(member)
        assert "没有成团" in note


def test_guide_closes_in_the_group_and_the_answer_is_the_announcement(bot: Bot) -> None:
    deal = bot.open("草莓 价格=10 名额=5 截止=2小时 成团=1")
    bot.say(f"接龙 {deal.code}", user="lisi")
    answer = bot.say(f"截团 {deal.code}", user="guide01")
    assert "【成团】" in answer
    assert bot.sent_to(GROUP) == []  # not pushed a second time
    assert bot.deal(deal.id).closed_by == "guide01"
    again = bot.say(f"截团 {deal.code}", user="guide01")
    assert "早已截团" in again and "已成团" in again
    assert "导购" in bot.say(f"截团 {deal.code}", user="lisi")


def test_a_customer_group_deal_is_opened_one_to_one_and_announced_through_its_push(bot: Bot) -> None:
    answer = bot.say("开团 草莓 价格=10 名额=5 截止=2小时 群=福田客户群", user="guide01", chat=None)
    (deal,) = bot.deals()
    assert f"团号 {deal.code}" in answer and deal.chat_id == CUSTOMER_GROUP
    (pushed,) = bot.sent_to(CUSTOMER_GROUP)
    assert f"【团购 {deal.code}】草莓" in pushed


def test_a_wechat_customer_hears_through_their_guide_when_a_deal_does_not_form(bot: Bot) -> None:
    bot.say("开团 草莓 价格=10 名额=5 截止=2小时 成团=3 群=福田客户群", user="guide01", chat=None)
    (deal,) = bot.deals()
    customer = "wmCustomer0001"
    with bot.services.session_factory.begin() as session:
        join(session, chat_id=CUSTOMER_GROUP, user_id=customer, at=bot.clock.now(), guide="guide02")
        set_display_name(session, customer, "王阿姨", bot.clock.now())
    assert "跟团号 1" in bot.say(f"接龙 {deal.code}", user=customer, chat=None)
    bot.clock.advance(hours=3)
    assert close_due(bot) == 1
    assert bot.sent_to(customer) == []
    (relay,) = bot.sent_to("guide02")
    assert "请转告客户 王阿姨" in relay and "没有成团" in relay
    assert "【未成团】" in bot.sent_to(CUSTOMER_GROUP)[-1]


def test_close_when_full_closes_on_the_last_place(
    make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock
) -> None:
    bot = make_bot(make_services, tmp_path, clock, close_when_full=True)
    deal = bot.open("草莓 价格=10 名额=2 截止=2小时 成团=2")
    bot.say(f"接龙 {deal.code}", user="lisi")
    assert bot.deal(deal.id).status == "open"
    answer = bot.say(f"接龙 {deal.code}", user="wangwu")
    assert "接龙成功" in answer
    closed = bot.deal(deal.id)
    assert (closed.status, closed.outcome, closed.closed_by) == ("closed", "formed", "full")
    assert "【成团】" in bot.sent_to(GROUP)[-1]


def test_signups_are_credited_to_the_members_guide_and_counted_as_activity(bot: Bot) -> None:
    deal = bot.open()
    with bot.services.session_factory.begin() as session:
        join(session, chat_id=GROUP, user_id="lisi", at=bot.clock.now(), guide="guide02")
    bot.say(f"接龙 {deal.code}", user="lisi")
    bot.say(f"接龙 {deal.code}", user="wangwu")  # no membership: the group's guide
    assert {s.user_id: s.guide for s in bot.signups(deal.id)} == {"lisi": "guide02", "wangwu": "guide01"}
    assert count_rows(bot.services.engine, ActivityHour) == 2


def test_roster_and_my_deals(bot: Bot) -> None:
    deal = bot.open("草莓 价格=39.9 名额=2 截止=2小时 限购=2")
    with bot.services.session_factory.begin() as session:
        set_display_name(session, "lisi", "李四", bot.clock.now())
        set_display_name(session, "guide01", "小美导购", bot.clock.now())
    bot.say(f"接龙 {deal.code} 2", user="lisi")
    bot.say(f"接龙 {deal.code}", user="wangwu")
    roster = bot.say(f"团购名单 {deal.code}", user="guide01")
    assert "1 人，2/2 份，¥79.80" in roster
    assert "1. 李四 ×2（导购 小美导购）" in roster and "候补 1 人，共 1 份：wangwu×1" in roster
    refused = bot.say(f"团购名单 {deal.code}", user="lisi")
    assert "只有导购可以使用" in refused and "李四" not in refused
    mine = bot.say("我的团购", user="lisi", chat=None)
    assert f"{deal.code}「草莓」跟团号 1，2 份 ¥79.80，已报名" in mine
    assert "候补中" in bot.say("我的团购", user="wangwu")
    assert "还没有报名" in bot.say("我的团购", user="nobody")


def test_join_and_cancel_without_a_code_use_the_groups_only_open_deal(bot: Bot) -> None:
    deal = bot.open()
    assert "跟团号 1" in bot.say("接龙", user="lisi")
    assert "跟团号 2" in bot.say("接龙 2", user="wangwu")
    assert [s.quantity for s in bot.signups(deal.id)] == [1, 2]
    assert "已取消" in bot.say("取消", user="wangwu")
    assert [s.status for s in bot.signups(deal.id)] == ["confirmed", "cancelled"]
    other = bot.open("苹果 价格=5 名额=9 截止=2小时")
    assert f"{deal.code}、{other.code}" in bot.say("接龙", user="zhaoliu")
    # 「取消」 alone with signups in several open deals lists them; with one, it cancels that one.
    bot.say(f"接龙 {other.code}", user="lisi")
    listed = bot.say("取消", user="lisi")
    assert "多个" in listed and f"{deal.code}「草莓」跟团号 1" in listed and f"{other.code}「苹果」" in listed
    assert "用法：取消 团号" in bot.say("取消", user="nobody")


TERMS = st.sampled_from(
    ["价格=", "名额=", "截止=", "成团=", "限购=", "群=", "：", "＝", " ", "今晚", "明天 ", "小时", "-"]
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(TERMS, st.text(max_size=5), st.integers(-100, 10**5).map(str)), max_size=10))
def test_whatever_a_guide_types_opens_one_deal_or_explains_and_opens_nothing(bot: Bot, parts: list[str]) -> None:
    before = len(bot.deals())
    answer = bot.say("开团 草莓 " + "".join(parts), user="guide01")
    after = len(bot.deals())
    if after == before:
        assert "未开团" in answer
    else:
        assert after == before + 1 and f"团号 {bot.deals()[-1].code}" in answer


def test_random_codes_are_short_upper_case_and_typed_in_any_case(
    make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock
) -> None:
    bot = make_bot(make_services, tmp_path, clock, code_style="random", code_prefix="gb")
    deal = bot.open()
    assert len(deal.code) == 6 and deal.code.startswith("GB") and deal.code.isupper()
    assert not set(deal.code[2:]) & set("01OIL")
    assert "跟团号 1" in bot.say(f"接龙 {deal.code.lower()}", user="lisi")
