"""The 开团 terms as guides really type them, and anything else: a deal's terms or a clear reason, never a crash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.groupbuy.terms import Terms, TermsError, parse_deadline, parse_price, parse_terms, yuan

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Sunday 2026-11-22 10:00 in Shanghai.
NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
HORIZON = timedelta(days=30)


def parse(args: str) -> Terms:
    return parse_terms(args, now=NOW, zone=SHANGHAI, default_limit=5, horizon=HORIZON)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


REAL_COMMANDS = [
    # (what a guide typed, title, cents, places, deadline, 成团, 限购)
    (
        "阳光玫瑰葡萄 价格=39.9 名额=50 截止=今晚20:00 成团=10 限购=2",
        "阳光玫瑰葡萄",
        3990,
        50,
        local(2026, 11, 22, 20, 0),
        10,
        2,
    ),
    ("草莓 价格=25 名额=30 截止=明天 12:00", "草莓", 2500, 30, local(2026, 11, 23, 12, 0), 1, 5),
    (
        "车厘子 3斤装 价格：128.50 名额：20 截止：11-25 20:00",
        "车厘子 3斤装",
        12850,
        20,
        local(2026, 11, 25, 20, 0),
        1,
        5,
    ),
    ("脐橙 价格＝１９．９ 名额＝１００ 截止＝２小时 成团＝５", "脐橙", 1990, 100, NOW + timedelta(hours=2), 5, 5),
    ("牛奶 价格=¥59 名额=10 截止=2026-11-24T18:30 限购=1", "牛奶", 5900, 10, local(2026, 11, 24, 18, 30), 1, 1),
    ("大米 价格=99元 名额=8 截止=2026-11-24 09:00", "大米", 9900, 8, local(2026, 11, 24, 9, 0), 1, 5),
    ("面包 价格=12.5 名额=40 截止=今晚8:00", "面包", 1250, 40, local(2026, 11, 22, 20, 0), 1, 5),
    ("鸡蛋 价格=30 名额=3 截止=30分钟", "鸡蛋", 3000, 3, NOW + timedelta(minutes=30), 1, 3),
    ("蜂蜜 价格=88 名额=60 截止=3天 成团=20", "蜂蜜", 8800, 60, NOW + timedelta(days=3), 20, 5),
    ("苹果 价格=45 名额=50 截止=明天20点", "苹果", 4500, 50, local(2026, 11, 23, 20, 0), 1, 5),
    ("坚果礼盒 价格=168 名额=50 截止=2026-11-23T12:00+08:00", "坚果礼盒", 16800, 50, local(2026, 11, 23, 12, 0), 1, 5),
    ("橙子:10斤装 价格=59 名额=50 截止=18:00", "橙子:10斤装", 5900, 50, local(2026, 11, 22, 18, 0), 1, 5),
]


@pytest.mark.parametrize(("typed", "title", "cents", "places", "deadline", "members", "limit"), REAL_COMMANDS)
def test_real_commands_parse_to_their_terms(
    typed: str, title: str, cents: int, places: int, deadline: datetime, members: int, limit: int
) -> None:
    terms = parse(typed)
    assert (terms.title, terms.price_cents, terms.places, terms.min_members, terms.limit) == (
        title,
        cents,
        places,
        members,
        limit,
    )
    assert terms.deadline == deadline


def test_group_term_names_the_customer_group() -> None:
    assert parse("草莓 价格=25 名额=30 截止=明天 12:00 群=福田一群").group == "福田一群"


MISTAKES = [
    ("", "groupbuy_open_usage"),
    ("价格=39.9 名额=50 截止=2小时", "groupbuy_no_title"),
    ("草莓 名额=50 截止=2小时", "groupbuy_missing_term"),
    ("草莓 价格=39.9 截止=2小时", "groupbuy_missing_term"),
    ("草莓 价格=39.9 名额=50", "groupbuy_missing_term"),
    ("草莓 价格=0 名额=50 截止=2小时", "groupbuy_price_range"),
    ("草莓 价格=-5 名额=50 截止=2小时", "groupbuy_price_range"),
    ("草莓 价格=39.999 名额=50 截止=2小时", "groupbuy_bad_price"),
    ("草莓 价格=便宜 名额=50 截止=2小时", "groupbuy_bad_price"),
    ("草莓 价格=1e3 名额=50 截止=2小时", "groupbuy_bad_price"),
    ("草莓 价格=39.9 名额=0 截止=2小时", "groupbuy_number_range"),
    ("草莓 价格=39.9 名额=-3 截止=2小时", "groupbuy_number_range"),
    ("草莓 价格=39.9 名额=很多 截止=2小时", "groupbuy_bad_number"),
    ("草莓 价格=39.9 名额=10 截止=2小时 成团=11", "groupbuy_number_range"),
    ("草莓 价格=39.9 名额=10 截止=2小时 限购=0", "groupbuy_number_range"),
    ("草莓 价格=39.9 名额=10 截止=昨天 20:00", "groupbuy_bad_deadline"),
    ("草莓 价格=39.9 名额=10 截止=今天 09:00", "groupbuy_deadline_past"),
    ("草莓 价格=39.9 名额=10 截止=11-20 20:00", "groupbuy_deadline_past"),
    ("草莓 价格=39.9 名额=10 截止=2025-01-01T00:00", "groupbuy_deadline_past"),
    ("草莓 价格=39.9 名额=10 截止=0小时", "groupbuy_deadline_past"),
    ("草莓 价格=39.9 名额=10 截止=25:00", "groupbuy_bad_deadline"),
    ("草莓 价格=39.9 名额=10 截止=02-30 20:00", "groupbuy_bad_deadline"),
    ("草莓 价格=39.9 名额=10 截止=40天", "groupbuy_deadline_too_far"),
    ("草莓 价格=39.9 名额=10 截止=2小时 价格=10", "groupbuy_repeated_term"),
    ("草莓 价格=39.9 名额=10 截止=2小时 运费=5", "groupbuy_unknown_term"),
    ("草莓 价格=39.9 名额=10 截止=2小时 包邮", "groupbuy_stray_words"),
    ("草" * 61 + " 价格=39.9 名额=10 截止=2小时", "groupbuy_title_too_long"),
]


@pytest.mark.parametrize(("typed", "key"), MISTAKES)
def test_mistakes_are_named(typed: str, key: str) -> None:
    with pytest.raises(TermsError) as info:
        parse(typed)
    assert info.value.key == key


def test_month_day_early_next_year_is_read_as_next_year() -> None:
    """01-05 typed on 12-28 means the coming January, not last January."""
    late_december = datetime(2026, 12, 28, 2, 0, tzinfo=UTC)
    assert parse_deadline("01-05 20:00", late_december, SHANGHAI) == local(2027, 1, 5, 20, 0)


def test_price_is_exact_in_cents() -> None:
    """Decimal, not float: 0.1 + 0.2 style errors would make 19.9 into 1989 cents."""
    assert [parse_price(p) for p in ("19.9", "0.01", "1.10", "100")] == [1990, 1, 110, 10000]
    assert [yuan(c) for c in (1990, 1, 110, 10000)] == ["19.90", "0.01", "1.10", "100"]


def _keys() -> set[str]:
    from tests.conftest import ROOT
    from tests.factories import load_config

    return set(load_config(ROOT / "config.example.yaml", environ={}).texts.values)


KNOWN_KEYS = _keys()
WORDS = st.sampled_from(
    [
        "价格",
        "名额",
        "截止",
        "成团",
        "限购",
        "群",
        "=",
        "＝",
        ":",
        "：",
        " ",
        "\u3000",
        "今晚",
        "明天",
        "小时",
        "-",
        ".",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(WORDS, st.text(max_size=6), st.integers(-(10**6), 10**6).map(str)), max_size=12))
def test_garbage_never_crashes(parts: list[str]) -> None:
    """Whatever is typed, the parser returns terms within the rules or an error the texts can explain."""
    typed = "".join(parts)
    try:
        terms = parse(typed)
    except TermsError as problem:
        assert problem.key in KNOWN_KEYS
        return
    assert terms.title and terms.price_cents > 0 and terms.places > 0
    assert 1 <= terms.min_members <= terms.places and 1 <= terms.limit <= terms.places
    assert NOW < terms.deadline <= NOW + HORIZON
