"""One number parser for every command: ASCII and full-width digits, nothing else that looks like one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.numbers import whole_number
from bot.text import fold_width
from handlers.groupbuy.commands import _quantity
from handlers.groupbuy.terms import Terms, TermsError, parse_price, parse_terms, parse_whole
from handlers.points.rules import parse_count

NOT_NUMBERS = ["²", "⁵", "①", "𝟏𝟎", "٣", "۵", "१", "+5", "1_000", "-3", "5.0", "", " "]


@pytest.mark.parametrize("word", ["12", "１２", "1２", " 7 "])
def test_ascii_and_full_width_digits_are_numbers(word: str) -> None:
    assert whole_number(word, 100) == int(fold_width(word).strip())


@pytest.mark.parametrize("word", NOT_NUMBERS)
def test_other_digit_like_characters_are_not(word: str) -> None:
    assert whole_number(word, 1000) is None


@pytest.mark.parametrize("word", NOT_NUMBERS[:7])
def test_every_command_refuses_them_alike(word: str) -> None:
    """加分 (parse_count), 接龙 (_quantity) and 开团 (parse_whole, parse_price) agree."""
    assert parse_count(word, 1000) is None
    assert _quantity(word) is None
    with pytest.raises(TermsError):
        parse_whole(word, "数量")
    with pytest.raises(TermsError):
        parse_price(word)


def test_open_deal_refuses_arabic_indic_places() -> None:
    def terms(args: str) -> Terms:
        now = datetime(2026, 11, 22, 2, tzinfo=UTC)
        return parse_terms(args, now=now, zone=ZoneInfo("Asia/Shanghai"), default_limit=3, horizon=timedelta(days=30))

    with pytest.raises(TermsError):
        terms("苹果 价格=٣٩ 数量=١٠ 截止=2小时")
    opened = terms("苹果 价格=３９ 数量=１０ 截止=２小时")
    assert (opened.price_cents, opened.places) == (3900, 10)


@given(st.text(max_size=12))
def test_whole_number_never_raises_and_stays_in_range(word: str) -> None:
    number = whole_number(word, 500)
    assert number is None or 1 <= number <= 500
