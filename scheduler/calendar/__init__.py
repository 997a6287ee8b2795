"""The content calendar: posts on cron, weekday or date slots, campaigns that count down, exactly once."""

from __future__ import annotations

from bot.registry import Capability
from scheduler.calendar.cli import calendar, calendar_check_lines
from scheduler.calendar.config import CALENDAR_SECTION
from scheduler.calendar.features import calendar_features
from scheduler.calendar.preview import upcoming_posts

CAPABILITY = Capability(
    name="calendar",
    section=CALENDAR_SECTION,
    texts="scheduler.calendar",
    cli=(calendar,),
    features=(calendar_features,),
    check_lines=(calendar_check_lines,),
    upcoming=(upcoming_posts,),
)
