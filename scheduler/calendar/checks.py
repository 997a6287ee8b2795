"""Calendar warnings for `groupbot check-config`: things that are allowed but probably not what was meant.

A campaign or dated entry whose day has passed is a warning, not an error: the date passes while the
service runs, and a config that was valid yesterday must still load after a restart or reload today.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from bot.config.core import Config
from bot.transports.wecom import quiet_until
from scheduler.calendar.config import CALENDAR_SECTION, CalendarEntry
from scheduler.calendar.slots import targets, triggers

Warning_ = tuple[tuple[str | int, ...], str]


def calendar_warnings(config: Config, now: datetime) -> list[Warning_]:
    """Return (config path, message) for each past date, slot in quiet hours, or content a channel cannot carry."""
    warnings: list[Warning_] = []
    today = now.astimezone(config.zone).date()
    for index, entry in enumerate(CALENDAR_SECTION.of(config)):
        base: tuple[str | int, ...] = ("calendar", index)
        warnings.extend((base + path, message) for path, message in _past(entry, today))
        quiet = _quiet(entry, config, now)
        if quiet is not None:
            warnings.append((base + quiet[0], quiet[1]))
        customer = [
            chat
            for chat in _targets(entry, config)
            if (group := config.group(chat)) is not None and group.push == "customer_task"
        ]
        if customer and _uses_markdown(entry):
            warnings.append(
                (
                    base + ("to",),
                    f"markdown goes to customer group(s) {', '.join(customer)} as plain text: customer-group tasks "
                    "carry text only",
                )
            )
    return warnings


def _past(entry: CalendarEntry, today: date) -> list[Warning_]:
    if entry.campaign is not None:
        campaign = entry.campaign
        days = [campaign.event_date + timedelta(days=item.days) for item in campaign.offsets]
        if max(days) < today:
            return [
                (
                    ("campaign", "event_date"),
                    f"campaign date {campaign.event_date.isoformat()} is in the past: this entry sends nothing "
                    "(remove it or set the next event date)",
                )
            ]
        gone = [item.offset for item, day in zip(campaign.offsets, days, strict=True) if day < today]
        if gone:
            return [(("campaign", "offsets"), f"offsets {', '.join(gone)} are already past and will not be sent")]
    if entry.when is not None and entry.when.date is not None and entry.when.date < today:
        return [(("when", "date"), f"date {entry.when.date.isoformat()} is in the past: this entry sends nothing")]
    return []


def _quiet(entry: CalendarEntry, config: Config, now: datetime) -> Warning_ | None:
    quiet = config.outbound.quiet_hours
    if not quiet.enabled:
        return None

    for trigger, _content, _days, _label in triggers(entry, config):
        fire = trigger.get_next_fire_time(None, now)
        if fire is None:
            continue
        held = quiet_until(quiet, fire.astimezone(UTC), config.zone)
        if held is not None:
            path: tuple[str | int, ...] = ("campaign", "time") if entry.campaign is not None else ("when",)
            local = fire.astimezone(config.zone)
            return (
                path,
                f"{local:%H:%M} is inside quiet hours ({quiet.start}-{quiet.end}): the post waits until "
                f"{held.astimezone(config.zone):%H:%M}; pick a time outside them",
            )
    return None


def _targets(entry: CalendarEntry, config: Config) -> tuple[str, ...]:

    return targets(entry, config)


def _uses_markdown(entry: CalendarEntry) -> bool:
    contents = [entry.content] if entry.content is not None else []
    if entry.campaign is not None:
        contents.extend(item.content for item in entry.campaign.offsets)
    return any(content is not None and content.markdown is not None for content in contents)
