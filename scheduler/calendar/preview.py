"""What the calendar will post over the next days, per group and transport, and where a group's cap runs out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.orm import Session

from bot.config.core import Config, GroupConfig
from bot.outbox import CHANNEL_GROUP
from bot.transports.limiter import days_in_month, window
from bot.transports.wecom import quiet_until
from models import calendar_delivery, rate_limit
from models import outbox as outbox_rows
from scheduler.calendar.config import CalendarEntry
from scheduler.calendar.slots import render, slots_between


@dataclass(frozen=True)
class PlannedPost:
    at: datetime  # local time
    entry_id: str
    chat_id: str
    group: str
    transport: str
    msgtype: str
    summary: str
    done: bool  # already claimed (posted or skipped)
    quiet_until: datetime | None  # local time the outbox holds it until, when the slot falls in quiet hours
    cap_note: str  # "" or why this post would exceed the group's monthly cap


@dataclass(frozen=True)
class DayPlan:
    day: date
    posts: list[PlannedPost]


def transport_of(config: Config, group: GroupConfig) -> str:
    """The way a push to `group` leaves, as the admin would check it."""
    if config.outbox.transport == "console" and group.push != "console":
        return f"{group.push} (printed only: outbox.transport is console)"
    if group.kind == "customer" and group.push == "customer_task" and group.guide and group.delivery != "task":
        if group.delivery == "sidebar":
            return f"sidebar (guide {group.guide} sends it; no task)"
        return f"sidebar (guide {group.guide}), else customer_task after {config.web.sidebar_grace_minutes:g} min"
    return group.push


def plan(session: Session, config: Config, now: datetime, days: int) -> list[DayPlan]:
    """The posts from now to the end of the `days`-th local day, counting each customer group against its cap.

    The count starts from what the group already spent this month (welcomes, reminders, earlier posts) and
    what waits unsent in the outbox; in later months it starts from zero, since those are not known yet.
    """
    zone = config.zone
    today = now.astimezone(zone).date()
    end = datetime.combine(today + timedelta(days=days), time(0), zone).astimezone(UTC)
    slots = slots_between(config, now, end)
    entries = {slot.entry.id for slot in slots}
    done = calendar_delivery.recorded(session, entries, {slot.local_date for slot in slots})
    limits = config.outbound.limits
    counts: dict[tuple[str, date], int] = {}
    by_day: dict[date, list[PlannedPost]] = {today + timedelta(days=n): [] for n in range(days)}
    for slot in slots:
        post = render(config, slot)
        local = slot.at.astimezone(zone)
        held = quiet_until(config.outbound.quiet_hours, slot.at, zone)
        for chat_id in slot.chats:
            group = config.group(chat_id)
            assert group is not None  # targets come from groups:
            claimed = (slot.entry.id, slot.local_date, chat_id) in done
            note = ""
            sidebar_only = group.kind == "customer" and group.delivery == "sidebar" and bool(group.guide)
            if group.push == "customer_task" and not claimed and not sidebar_only:
                cap = limits.customer_task_per_month or days_in_month(slot.at, zone)
                month = window("month", slot.at, zone)[0]
                key = (chat_id, month.date())
                if key not in counts:
                    counts[key] = _spent(session, chat_id, month) if month <= now else 0
                counts[key] += 1
                if counts[key] > cap:
                    note = f"over the monthly cap: task {counts[key]} of {cap} this month"
                    if group.delivery == "sidebar_then_task" and group.guide:
                        note = "unless the guide sends it from the sidebar: " + note
            by_day.setdefault(slot.local_date, []).append(
                PlannedPost(
                    at=local,
                    entry_id=slot.entry.id,
                    chat_id=chat_id,
                    group=group.name,
                    transport=transport_of(config, group),
                    msgtype=post.msgtype,
                    summary=_summary(post.text),
                    done=claimed,
                    quiet_until=held.astimezone(zone) if held else None,
                    cap_note=note,
                )
            )
    return [DayPlan(day, posts) for day, posts in sorted(by_day.items())]


def upcoming_posts(session: Session, config: Config, now: datetime, days: int) -> list[tuple[datetime, str, str, bool]]:
    """(local time, chat_id, summary, already posted) for the console's view of each group's next days."""
    return [
        (post.at, post.chat_id, post.summary, post.done)
        for day in plan(session, config, now, days)
        for post in day.posts
    ]


def _spent(session: Session, chat_id: str, month_start: datetime) -> int:
    used = rate_limit.used(session, f"customer_task:{chat_id}/month", month_start)
    return used + outbox_rows.count_unsent(session, CHANNEL_GROUP, chat_id)


def _summary(text: str, width: int = 40) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def entry_times(entry: CalendarEntry) -> str:
    """The entry's rule in words, for listings."""
    if entry.when is not None:
        if entry.when.cron is not None:
            return f"cron {entry.when.cron}"
        if entry.when.date is not None:
            return f"{entry.when.date.isoformat()} {entry.when.time}"
        days = ",".join(entry.when.weekdays) if entry.when.weekdays else "daily"
        return f"{days} {entry.when.time}"
    assert entry.campaign is not None
    offsets = ", ".join(item.offset for item in entry.campaign.offsets)
    return f"campaign {entry.campaign.event_date.isoformat()} {entry.campaign.time} ({offsets})"
