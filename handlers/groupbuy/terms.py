"""Read the terms of 开团 (price, places, deadline, threshold, limit) from what a guide types; no database, no clock."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from bot.text import fold_width, split_words

# The terms a guide can set, by every name a guide is likely to type.
KEYS = {
    "价格": "price",
    "单价": "price",
    "价": "price",
    "名额": "places",
    "数量": "places",
    "库存": "places",
    "截止": "deadline",
    "截团": "deadline",
    "截止时间": "deadline",
    "成团": "min_members",
    "限购": "limit",
    "每人限购": "limit",
    "群": "group",
    "需要": "fields",
    "登记": "fields",
}
# What a deal may ask each signup for (需要=自提点,电话): at most this many names, each this short.
MAX_FIELDS = 4
MAX_FIELD_NAME = 8
MAX_ANSWER = 40
# The terms 改团 may change.
EDITABLE = frozenset({"price", "places", "deadline"})
# The most a deal can be worth per unit and the most places it can have; beyond these a typo is likelier.
MAX_PRICE_CENTS = 100_000_000
MAX_PLACES = 100_000
MAX_TITLE = 60
_KV = re.compile(r"^([^=:]+?)[=:](.*)$")
# re.ASCII: `\d` would otherwise match Arabic-Indic and other digits, which no other command takes.
_CLOCK = re.compile(r"^(\d{1,2})(?::(\d{2})|点(?:(\d{1,2})分?|半)?)$", re.ASCII)
_RELATIVE = re.compile(r"^(\d{1,4})(分钟|min|小时|h|天|d)$", re.IGNORECASE | re.ASCII)
_MONTH_DAY = re.compile(r"^(\d{1,2})(?:[-/.]|月)(\d{1,2})日?$", re.ASCII)
_DAY_WORDS = {"今天": 0, "今日": 0, "今晚": 0, "明天": 1, "明日": 1, "明晚": 1, "后天": 2}
_EVENING_WORDS = {"今晚", "明晚"}


class TermsError(ValueError):
    """A mistake in the terms: `key` names the admin's sentence that explains it, `fields` fill it."""

    def __init__(self, key: str, **fields: object):
        super().__init__(key)
        self.key = key
        self.fields = fields


@dataclass(frozen=True)
class Terms:
    title: str
    price_cents: int
    places: int
    deadline: datetime
    min_members: int
    limit: int
    group: str | None = None
    unknown: tuple[str, ...] = field(default=())
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class Edit:
    """What 改团 changes; None leaves a term as it is."""

    price_cents: int | None = None
    places: int | None = None
    deadline: datetime | None = None


def parse_price(raw: str) -> int:
    """Return the price in integer cents for a yuan amount such as 39.9, ¥39.90 or 39.9元."""
    text = fold_width(raw).strip().removeprefix("¥").removeprefix("￥").removesuffix("元").strip()
    if not re.fullmatch(r"-?\d{1,9}(\.\d{1,9})?", text, re.ASCII):
        raise TermsError("groupbuy_bad_price", value=raw)
    try:
        yuan = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only plain decimals
        raise TermsError("groupbuy_bad_price", value=raw) from None
    cents = yuan * 100
    if cents != cents.to_integral_value():
        raise TermsError("groupbuy_bad_price", value=raw)
    if cents <= 0 or cents > MAX_PRICE_CENTS:
        raise TermsError("groupbuy_price_range", value=raw, max=MAX_PRICE_CENTS // 100)
    return int(cents)


def parse_whole(raw: str, name: str, *, low: int = 1, high: int = MAX_PLACES) -> int:
    """Return the whole number in `raw` within [low, high], or explain which term is wrong."""
    text = fold_width(raw).strip().removesuffix("份").removesuffix("人").removesuffix("件")
    if not re.fullmatch(r"-?\d{1,7}", text, re.ASCII):
        raise TermsError("groupbuy_bad_number", term=name, value=raw)
    number = int(text)
    if not low <= number <= high:
        raise TermsError("groupbuy_number_range", term=name, value=raw, low=low, high=high)
    return number


def _clock(raw: str) -> time | None:
    match = _CLOCK.match(raw)
    if not match:
        return None
    hour = int(match.group(1))
    minute = int(match.group(2) or match.group(3) or (30 if raw.endswith("半") else 0))
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def parse_deadline(raw: str, now: datetime, zone: ZoneInfo) -> datetime:
    """Return the moment `raw` names: 今天/明天/今晚 HH:MM, MM-DD HH:MM, 2小时, HH:MM or ISO 8601.

    Times without a zone are in `zone`; 今晚 8:00 means 20:00. A month-day already past this year
    means next year only when that is the nearer reading.
    """
    text = " ".join(split_words(fold_width(raw)))
    if not text:
        raise TermsError("groupbuy_bad_deadline", value=raw)
    local_now = now.astimezone(zone)
    relative = _RELATIVE.match(text.replace(" ", ""))
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2).lower()
        step = {"分钟": "minutes", "min": "minutes", "小时": "hours", "h": "hours", "天": "days", "d": "days"}[unit]
        if amount == 0:
            raise TermsError("groupbuy_deadline_past", value=raw)
        return now + timedelta(**{step: amount})
    for word, days in _DAY_WORDS.items():
        if text.startswith(word):
            at = _clock(text[len(word) :].strip())
            if at is None:
                raise TermsError("groupbuy_bad_deadline", value=raw)
            if word in _EVENING_WORDS and at.hour < 12:
                at = at.replace(hour=at.hour + 12)
            day = local_now.date() + timedelta(days=days)
            return datetime.combine(day, at, tzinfo=zone)
    parts = text.split(" ")
    if len(parts) == 1 and (at := _clock(parts[0])) is not None:
        return datetime.combine(local_now.date(), at, tzinfo=zone)
    if len(parts) == 2 and (month_day := _MONTH_DAY.match(parts[0])) and (at := _clock(parts[1])) is not None:
        return _month_day(int(month_day.group(1)), int(month_day.group(2)), at, local_now, zone, raw)
    return _iso(text, zone, raw)


def _month_day(month: int, day: int, at: time, local_now: datetime, zone: ZoneInfo, raw: str) -> datetime:
    try:
        this_year = datetime.combine(date(local_now.year, month, day), at, tzinfo=zone)
    except ValueError:
        raise TermsError("groupbuy_bad_deadline", value=raw) from None
    if this_year >= local_now:
        return this_year
    try:
        next_year = datetime.combine(date(local_now.year + 1, month, day), at, tzinfo=zone)
    except ValueError:  # 02-29 in a year without one
        return this_year
    # 01-05 typed in late December means the coming January; 11-20 typed on 11-22 is simply past.
    return next_year if next_year - local_now < local_now - this_year else this_year


def _iso(text: str, zone: ZoneInfo, raw: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        raise TermsError("groupbuy_bad_deadline", value=raw) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed


def _pairs(words: list[str]) -> tuple[list[str], dict[str, str], list[str]]:
    """Split words into the title and key=value terms; a clock time after a date word joins its term."""
    title: list[str] = []
    terms: dict[str, str] = {}
    unknown: list[str] = []
    index = 0
    while index < len(words):
        word = fold_width(words[index])
        match = _KV.match(word)
        if not match:
            if terms:  # words after the first term are taken as a stray word, not the title
                unknown.append(words[index])
            else:
                title.append(words[index])
            index += 1
            continue
        name, value = match.group(1).strip(), match.group(2).strip()
        key = KEYS.get(name)
        if key is None and "=" not in word:
            # 「草莓:5斤装」 is part of a title; only 「名=值」 is meant as a term.
            (unknown if terms else title).append(words[index])
            index += 1
            continue
        if key is None:
            raise TermsError("groupbuy_unknown_term", term=name)
        if key in terms:
            raise TermsError("groupbuy_repeated_term", term=name)
        index += 1
        # 截止=明天 20:00 and 截止=11-25 20:00: the time was typed as the next word.
        if key == "deadline" and index < len(words) and _clock(fold_width(words[index])) and _KV.match(value) is None:
            if not _clock(value) and not _RELATIVE.match(value):
                value = f"{value} {fold_width(words[index])}"
                index += 1
        terms[key] = value
    return title, terms, unknown


def parse_terms(args: str, *, now: datetime, zone: ZoneInfo, default_limit: int, horizon: timedelta) -> Terms:
    """Read `标题 价格=39.9 名额=50 截止=今晚20:00 [成团=10] [限购=2] [群=群名]` into Terms, or raise TermsError."""
    words = split_words(args)
    if not words:
        raise TermsError("groupbuy_open_usage")
    title_words, terms, unknown = _pairs(words)
    if unknown:
        raise TermsError("groupbuy_stray_words", words=" ".join(unknown))
    title = " ".join(title_words)
    if not title:
        raise TermsError("groupbuy_no_title")
    if len(title) > MAX_TITLE:
        raise TermsError("groupbuy_title_too_long", max=MAX_TITLE)
    for needed, name in (("price", "价格"), ("places", "名额"), ("deadline", "截止")):
        if not terms.get(needed):
            raise TermsError("groupbuy_missing_term", term=name)
    price = parse_price(terms["price"])
    places = parse_whole(terms["places"], "名额")
    min_members = parse_whole(terms["min_members"], "成团", high=places) if terms.get("min_members") else 1
    limit = parse_whole(terms["limit"], "限购", high=places) if terms.get("limit") else min(default_limit, places)
    deadline = parse_deadline(terms["deadline"], now, zone)
    if deadline <= now:
        raise TermsError("groupbuy_deadline_past", value=terms["deadline"])
    if deadline - now > horizon:
        raise TermsError("groupbuy_deadline_too_far", value=terms["deadline"], days=horizon.days)
    group = terms.get("group") or None
    return Terms(title, price, places, deadline, min_members, limit, group, fields=parse_fields(terms.get("fields")))


def parse_fields(raw: str | None) -> tuple[str, ...]:
    """Return the field names of 需要=自提点,电话 (comma, 、 or ，), at most MAX_FIELDS, each short."""
    if not raw:
        return ()
    names = [name.strip() for name in re.split(r"[,，、]", fold_width(raw)) if name.strip()]
    if len(names) > MAX_FIELDS or len(set(names)) != len(names):
        raise TermsError("groupbuy_bad_fields", value=raw, max=MAX_FIELDS, length=MAX_FIELD_NAME)
    for name in names:
        if len(name) > MAX_FIELD_NAME or "=" in name or ":" in name:
            raise TermsError("groupbuy_bad_fields", value=raw, max=MAX_FIELDS, length=MAX_FIELD_NAME)
    return tuple(names)


def parse_edit(args: str, *, now: datetime, zone: ZoneInfo, horizon: timedelta) -> Edit:
    """Read 改团's `截止=… 名额=… 价格=…` (any of them) into an Edit, or raise TermsError."""
    words = split_words(args)
    title, terms, unknown = _pairs(words)
    if title or unknown:
        raise TermsError("groupbuy_stray_words", words=" ".join(title + unknown))
    if not terms:
        raise TermsError("groupbuy_edit_usage")
    for key in terms:
        if key not in EDITABLE:
            name = next(name for name, value in KEYS.items() if value == key)
            raise TermsError("groupbuy_edit_term", term=name)
    deadline = None
    if terms.get("deadline"):
        deadline = parse_deadline(terms["deadline"], now, zone)
        if deadline <= now:
            raise TermsError("groupbuy_deadline_past", value=terms["deadline"])
        if deadline - now > horizon:
            raise TermsError("groupbuy_deadline_too_far", value=terms["deadline"], days=horizon.days)
    return Edit(
        price_cents=parse_price(terms["price"]) if terms.get("price") else None,
        places=parse_whole(terms["places"], "名额") if terms.get("places") else None,
        deadline=deadline,
    )


def yuan(cents: int) -> str:
    """Show integer cents as yuan: 3990 → 39.90, 4000 → 40."""
    whole, part = divmod(cents, 100)
    return f"{whole}" if part == 0 else f"{whole}.{part:02d}"
