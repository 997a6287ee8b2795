"""The calendar line in `check-config`: whether entries reach each group, and in what form."""

from __future__ import annotations

from bot.config.core import Config, GroupConfig
from bot.features import FeatureState, push_path
from scheduler.calendar.config import CALENDAR_SECTION
from scheduler.calendar.slots import targets
from scheduler.config import SCHEDULER_SECTION


def content_calendar(config: Config, group: GroupConfig) -> FeatureState:
    """Whether calendar entries reach the group, and in what form."""
    name = "calendar"
    entries = [
        entry.id for entry in CALENDAR_SECTION.of(config) if entry.enabled and group.chat_id in targets(entry, config)
    ]
    if not entries:
        return FeatureState(name, "off", "no calendar entry targets this group")
    listed = ", ".join(entries)
    if not SCHEDULER_SECTION.of(config).enabled:
        return FeatureState(name, "off", f"{listed}: scheduler.enabled is false")
    path = push_path(config, group)
    if path.state != "live":
        return FeatureState(name, path.state, f"{listed}: {path.why}")
    if group.push == "customer_task":
        return FeatureState(
            name, "degraded", f"{listed}: text tasks the guide confirms (news as a link), sharing the monthly cap"
        )
    return FeatureState(name, "live", f"{listed}: posted at the slot time (text, markdown or news card)")


def calendar_features(config: Config, group: GroupConfig) -> list[FeatureState]:
    return [content_calendar(config, group)]
