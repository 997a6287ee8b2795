"""The `calendar:` section: the content calendar's entries, their timing, content and targets."""

from __future__ import annotations

import datetime as dt
import re
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from pydantic import Field, field_validator, model_validator

from bot.config.base import ConfigValueError, Strict
from bot.config.core import Config, placeholders
from bot.registry import Section

# {kf_link}: each customer group's 微信客服 link, filled per chat as the post is queued.
PLAIN_PLACEHOLDERS = frozenset({"date", "weekday", "kf_link"})
CAMPAIGN_PLACEHOLDERS = PLAIN_PLACEHOLDERS | {"days_left"}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
OFFSET = re.compile(r"^([+-]?\d{1,3})d$")
ENTRY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class NewsCard(Strict):
    title: str = Field(min_length=1, max_length=128)
    description: str = ""
    url: str = Field(min_length=1)
    picture: str = ""

    @field_validator("url", "picture")
    @classmethod
    def _web_address(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// address")
        return value


class CalendarContent(Strict):
    """Exactly one of text, markdown or a news card."""

    text: str | None = None
    markdown: str | None = None
    news: NewsCard | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> CalendarContent:
        given = [name for name in ("text", "markdown", "news") if getattr(self, name) not in (None, "")]
        if len(given) != 1:
            raise ValueError("give exactly one of text, markdown or news")
        return self

    def templates(self) -> list[tuple[str, str]]:
        """(key, template) pairs whose placeholders are filled at send time."""
        if self.news is not None:
            return [("news", self.news.title), ("news", self.news.description)]
        if self.text is not None:
            return [("text", self.text)]
        return [("markdown", self.markdown or "")]


class CalendarTargets(Strict):
    groups: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    all: bool = False

    @model_validator(mode="after")
    def _some_target(self) -> CalendarTargets:
        if not (self.all or self.groups or self.tags):
            raise ValueError("say where it goes: groups (chat ids), tags, or all: true")
        return self


class CampaignOffset(Strict):
    offset: str
    label: str = ""
    content: CalendarContent

    @field_validator("offset", mode="before")
    @classmethod
    def _days(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = f"{value}d"
        if not isinstance(value, str) or not OFFSET.match(value.strip()):
            raise ValueError("write the offset in days from the event, such as -3d, -1d or 0d")
        return value.strip()

    @property
    def days(self) -> int:
        match = OFFSET.match(self.offset)
        assert match is not None
        return int(match.group(1))


class Campaign(Strict):
    event_date: dt.date
    time: str = "10:00"
    offsets: list[CampaignOffset] = Field(min_length=1)

    _time = field_validator("time")(lambda value: _clock_time(value))

    @field_validator("offsets")
    @classmethod
    def _distinct_days(cls, offsets: list[CampaignOffset]) -> list[CampaignOffset]:
        seen: set[int] = set()
        for index, item in enumerate(offsets):
            if item.days in seen:
                raise ConfigValueError(f"two offsets fall on the same day ({item.offset})", index, "offset")
            seen.add(item.days)
        return offsets


class CalendarWhen(Strict):
    """One of: cron (5 fields), weekdays + time (weekdays omitted: every day), or date + time (once)."""

    cron: str | None = None
    weekdays: list[str] | None = None
    date: dt.date | None = None
    time: str | None = None

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            trigger = crontab_trigger(value, ZoneInfo("UTC"))
        except ValueError as exc:
            raise ValueError(f"invalid cron {value!r}: {exc} (five fields: minute hour day month weekday)") from None
        if _fires_twice_a_day(trigger):
            raise ValueError(
                f"cron {value!r} fires more than once a day; a calendar entry posts at most once a day per group "
                "(use one entry per time of day)"
            )
        return value

    @field_validator("weekdays")
    @classmethod
    def _known_days(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return value
        if not value:
            raise ValueError("list at least one weekday (mon … sun), or leave weekdays out for every day")
        days = []
        for index, day in enumerate(value):
            name = str(day).strip().lower()[:3]
            if name not in WEEKDAYS:
                raise ConfigValueError(f"unknown weekday {day!r}; use mon, tue, wed, thu, fri, sat or sun", index)
            days.append(name)
        return days

    @field_validator("time")
    @classmethod
    def _time(cls, value: str | None) -> str | None:
        return None if value is None else _clock_time(value)

    @model_validator(mode="after")
    def _one_form(self) -> CalendarWhen:
        if self.cron is not None:
            if self.weekdays is not None or self.date is not None or self.time is not None:
                raise ValueError("give either cron, or weekdays/date with time, not both")
            return self
        if self.time is None:
            raise ConfigValueError("give a time such as 10:00 (or a cron)", "time")
        if self.date is not None and self.weekdays is not None:
            raise ValueError("give either weekdays or a date, not both")
        return self

    def trigger(self, zone: ZoneInfo) -> CronTrigger:
        """The APScheduler trigger for this rule in `zone`."""
        if self.cron is not None:
            return crontab_trigger(self.cron, zone)
        at = time.fromisoformat(self.time or "00:00")
        if self.date is not None:
            return CronTrigger(
                year=self.date.year,
                month=self.date.month,
                day=self.date.day,
                hour=at.hour,
                minute=at.minute,
                timezone=zone,
            )
        days = ",".join(self.weekdays) if self.weekdays else "*"
        return CronTrigger(day_of_week=days, hour=at.hour, minute=at.minute, timezone=zone)


class CalendarEntry(Strict):
    id: str
    when: CalendarWhen | None = None
    campaign: Campaign | None = None
    to: CalendarTargets
    content: CalendarContent | None = None
    enabled: bool = True

    @field_validator("id")
    @classmethod
    def _short_id(cls, value: str) -> str:
        if not ENTRY_ID.match(value):
            raise ValueError("use up to 64 letters, digits, '-', '_' or '.' (it names the entry in the database)")
        return value

    @model_validator(mode="after")
    def _shape(self) -> CalendarEntry:
        if (self.when is None) == (self.campaign is None):
            raise ValueError("give either when (a cron, weekdays + time, or a date + time) or a campaign")
        if self.when is not None and self.content is None:
            raise ConfigValueError("field required", "content")
        if self.campaign is not None and self.content is not None:
            raise ConfigValueError("a campaign's content goes under each offset", "content")
        if self.content is not None:
            _check_placeholders(self.content, PLAIN_PLACEHOLDERS, ("content",))
        if self.campaign is not None:
            for index, item in enumerate(self.campaign.offsets):
                _check_placeholders(item.content, CAMPAIGN_PLACEHOLDERS, ("campaign", "offsets", index, "content"))
        return self


CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def crontab_trigger(expression: str, zone: ZoneInfo) -> CronTrigger:
    """A CronTrigger for a five-field crontab line, with crontab's weekday numbers (0 or 7 = Sunday).

    APScheduler 3's own from_crontab reads weekday numbers as 0 = Monday, so "30 19 * * 3" would post
    on Thursday; numbers are turned into day names here before APScheduler sees them.
    """
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"wrong number of fields; got {len(fields)}, expected 5")
    minute, hour, day, month, weekday = fields
    return CronTrigger(
        minute=minute, hour=hour, day=day, month=month, day_of_week=_weekday_names(weekday), timezone=zone
    )


def _weekday_names(field: str) -> str:
    if field in ("*", "?"):
        return "*"
    names: list[str] = []
    for part in field.split(","):
        if "/" in part:
            raise ValueError("steps (/) in the weekday field are not supported; list the days (1,3,5 or mon,wed,fri)")
        low, _, high = part.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            names.append(part.lower())  # names such as mon or mon-fri mean the same to APScheduler
            continue
        first, last = int(low), int(high or low)
        if not (0 <= first <= 7 and 0 <= last <= 7 and first <= last):
            raise ValueError(f"weekday {part!r} is out of range (0-7, 0 and 7 are Sunday)")
        names.extend(CRON_DAYS[number] for number in range(first, last + 1))
    return ",".join(dict.fromkeys(names))


def _clock_time(value: str) -> str:
    try:
        time.fromisoformat(value)
    except ValueError:
        raise ValueError("use a 24-hour time such as 10:00") from None
    return value


def _fires_twice_a_day(trigger: CronTrigger) -> bool:
    # The hour/minute pattern is the same on every firing day, so the first firing day tells.
    first = trigger.get_next_fire_time(None, datetime(2026, 1, 1, tzinfo=ZoneInfo("UTC")))
    if first is None:
        return False
    second = trigger.get_next_fire_time(first, first + timedelta(seconds=1))
    return second is not None and second.date() == first.date()


def _check_placeholders(content: CalendarContent, allowed: frozenset[str], path: tuple[str | int, ...]) -> None:

    braces = "a { or } that is not a placeholder: write {{ and }} for literal braces"
    sample = {"date": "11月23日", "weekday": "周一", "days_left": 3, "kf_link": "https://work.weixin.qq.com/kfid/x"}
    for key, template in content.templates():
        try:
            used = placeholders(template)
        except ValueError:
            raise ConfigValueError(braces, *path, key) from None
        unknown = used - allowed
        if unknown:
            names = ", ".join("{" + p + "}" for p in sorted(allowed))
            raise ConfigValueError(
                f"unknown placeholder(s) {', '.join(sorted(unknown))}; allowed here: {names}", *path, key
            )
        # Rendering once now means a slot can never fail at send time ({} or {date:%Y} would).
        try:
            template.format_map({name: sample[name] for name in allowed})
        except (ValueError, IndexError, KeyError, AttributeError, TypeError):
            raise ConfigValueError(braces, *path, key) from None


def check_calendar(config: Config) -> None:
    """Refuse calendar entries with duplicate ids or targets that name no configured group or tag."""
    chat_ids = {group.chat_id for group in config.groups}
    tags = {tag for group in config.groups for tag in group.tags}
    names = config.texts.values.get("calendar_weekday_names")
    if names is not None and len(names.split()) != 7:
        raise ConfigValueError(
            "give seven weekday names, Monday first, separated by spaces", "texts", "calendar_weekday_names"
        )
    seen: set[str] = set()
    for index, entry in enumerate(CALENDAR_SECTION.of(config)):
        if entry.id in seen:
            raise ConfigValueError(f"calendar id {entry.id!r} is used twice", "calendar", index, "id")
        seen.add(entry.id)
        for position, chat_id in enumerate(entry.to.groups):
            if chat_id not in chat_ids:
                raise ConfigValueError(
                    f"unknown group {chat_id!r}: list it under groups: (chat_id) first",
                    "calendar",
                    index,
                    "to",
                    "groups",
                    position,
                )
        for position, tag in enumerate(entry.to.tags):
            if tag not in tags:
                known = ", ".join(sorted(tags)) or "none"
                raise ConfigValueError(
                    f"unknown tag {tag!r}: no group under groups: has it (tags in use: {known})",
                    "calendar",
                    index,
                    "to",
                    "tags",
                    position,
                )


CALENDAR_SECTION: Section[list[CalendarEntry]] = Section(
    "calendar", list[CalendarEntry], list, checks=(check_calendar,)
)
