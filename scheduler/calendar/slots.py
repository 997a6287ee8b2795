"""The content calendar: which slots fall in a span of time, and claiming each (entry, day, group) exactly once."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.orm import Session, sessionmaker

from bot.config.core import Config
from bot.config.fill import fill
from bot.outbox import CHANNEL_GROUP, queue_replies
from bot.replies import Reply
from bot.transports.limiter import days_in_month, window
from handlers.kf import kf_link
from models import calendar_delivery, rate_limit
from models import outbox as outbox_rows
from scheduler.calendar.config import CALENDAR_SECTION, CalendarContent, CalendarEntry
from scheduler.config import SCHEDULER_SECTION

log = logging.getLogger(__name__)

CURSOR = "calendar"
# After a long outage only this far back is looked at; anything older is long past its grace anyway.
MAX_LOOKBACK = timedelta(days=31)
# Chats claimed and queued per transaction in a fan-out: few round trips, bounded statement size.
FAN_OUT_BATCH = 500


@dataclass(frozen=True)
class Slot:
    entry: CalendarEntry
    at: datetime  # UTC
    local_date: date
    content: CalendarContent
    chats: tuple[str, ...]
    days_left: int | None = None
    label: str = ""


@dataclass
class CalendarReport:
    queued: int = 0
    skipped: int = 0
    already: int = 0
    failed: int = 0
    over_cap: int = 0
    skipped_slots: list[str] = field(default_factory=list)


def triggers(entry: CalendarEntry, config: Config) -> Iterator[tuple[CronTrigger, CalendarContent, int | None, str]]:
    """Each trigger of an entry with its content, days to the event (campaigns) and label."""
    zone = config.zone
    if entry.when is not None and entry.content is not None:
        yield entry.when.trigger(zone), entry.content, None, ""
        return
    campaign = entry.campaign
    if campaign is None:  # pragma: no cover - the config refuses entries with neither
        return
    at = time.fromisoformat(campaign.time)
    for offset in campaign.offsets:
        day = campaign.event_date + timedelta(days=offset.days)
        trigger = CronTrigger(
            year=day.year, month=day.month, day=day.day, hour=at.hour, minute=at.minute, timezone=zone
        )
        yield trigger, offset.content, -offset.days, offset.label


def targets(entry: CalendarEntry, config: Config) -> tuple[str, ...]:
    """The chat ids an entry goes to, in the order `groups:` lists them."""
    wanted_tags = set(entry.to.tags)
    wanted = set(entry.to.groups)
    return tuple(
        group.chat_id
        for group in config.groups
        if entry.to.all or group.chat_id in wanted or wanted_tags.intersection(group.tags)
    )


def slots_between(config: Config, start: datetime, end: datetime) -> list[Slot]:
    """Every slot of every enabled entry with start < slot time <= end, in time order."""
    zone = config.zone
    found: list[Slot] = []
    for entry in CALENDAR_SECTION.of(config):
        if not entry.enabled:
            continue
        chats = targets(entry, config)
        for trigger, content, days_left, label in triggers(entry, config):
            previous: datetime | None = None
            cursor = start + timedelta(microseconds=1)
            while True:
                fire = trigger.get_next_fire_time(previous, cursor)
                if fire is None or fire > end:
                    break
                at = fire.astimezone(UTC)
                found.append(Slot(entry, at, fire.astimezone(zone).date(), content, chats, days_left, label))
                previous, cursor = fire, fire + timedelta(microseconds=1)
    found.sort(key=lambda slot: (slot.at, slot.entry.id))
    return found


def render(config: Config, slot: Slot, link: str = "") -> Reply:
    """The post for a slot, addressed to no chat yet: placeholders filled, a news card with a text form.

    `link` is the receiving chat's 微信客服 link; without one a line holding only {kf_link} is dropped.
    """
    names = config.texts.render("calendar_weekday_names").split()
    fields = {
        "date": config.texts.render("calendar_date", month=slot.local_date.month, day=slot.local_date.day),
        "weekday": names[slot.local_date.weekday()],
        "days_left": slot.days_left if slot.days_left is not None else "",
        "kf_link": link,
    }
    content = slot.content
    if content.news is not None:
        title = fill(content.news.title, fields)
        description = fill(content.news.description, fields)
        article = {"title": title, "description": description, "url": content.news.url, "picurl": content.news.picture}
        as_text = config.texts.render(
            "calendar_news_as_text", title=title, description=description, url=content.news.url
        )
        return Reply(as_text, msgtype="news", articles=(article,))
    if content.markdown is not None:
        return Reply(fill(content.markdown, fields), msgtype="markdown")
    return Reply(fill(content.text or "", fields))


def deliver(
    session_factory: sessionmaker[Session], config: Config, slot: Slot, now: datetime, *, worker: str, late: bool
) -> tuple[int, int, int]:
    """Claim the slot for each of its chats; queue the post (or record the skip). Return (claimed, already, capped).

    Chats go in batches of `FAN_OUT_BATCH`, each one transaction of a few set-based statements (claim
    all, queue all, attach all): a batch's claims and outbox rows commit together, so a crash between
    batches leaves the claimed chats posted once and the rest for the next pass.
    """
    post = None if late else render(config, slot)
    # {kf_link} is each customer group's own link: content that uses it is rendered per chat, the rest once.
    per_chat = post is not None and _uses_kf_link(slot.content)

    def post_for(session: Session, chat_id: str) -> Reply:
        assert post is not None
        return render(config, slot, kf_link(session, config, chat_id) or "") if per_chat else post

    claimed = already = capped = 0
    with session_factory() as session:
        # One read spares the work on the sweeps that find the slot done (the claim still decides).
        done = {chat for _, _, chat in calendar_delivery.recorded(session, [slot.entry.id], [slot.local_date])}
    pending = [chat_id for chat_id in dict.fromkeys(slot.chats) if chat_id not in done]
    already += len(slot.chats) - len(pending)
    origin = f"calendar:{slot.entry.id}:{slot.local_date.isoformat()}"
    for start in range(0, len(pending), FAN_OUT_BATCH):
        batch = pending[start : start + FAN_OUT_BATCH]
        with session_factory.begin() as session:
            statuses = {}
            for chat_id in batch:
                status = "skipped" if late else "queued"
                if not late and cap_spent(session, config, chat_id, now):
                    status = "over_cap"
                statuses[chat_id] = status
            won = calendar_delivery.claim_many(
                session,
                entry_id=slot.entry.id,
                local_date=slot.local_date,
                statuses=statuses,
                slot_at=slot.at,
                worker=worker,
                now=now,
            )
            already += len(batch) - len(won)
            claimed += len(won)
            to_post = []
            for chat_id in batch:
                if chat_id not in won:
                    continue
                if statuses[chat_id] == "over_cap":
                    capped += 1
                    log.warning(
                        "calendar %s not posted to customer group %s: its monthly task cap is spent "
                        "(it would wait until next month)",
                        slot.entry.id,
                        chat_id,
                    )
                elif post is not None:
                    to_post.append(chat_id)
            if post is not None and to_post:
                posts = [replace(post_for(session, chat), to_chat=chat) for chat in to_post]
                rows = queue_replies(session, posts, now, origin=origin)
                carried = dict(zip(to_post, rows, strict=True))
                calendar_delivery.attach_outboxes(session, slot.entry.id, slot.local_date, carried)
    return claimed, already, capped


def _uses_kf_link(content: CalendarContent) -> bool:
    news = content.news
    texts = [content.text or "", content.markdown or "", news.title if news else "", news.description if news else ""]
    return any("{kf_link}" in text for text in texts)


def cap_spent(session: Session, config: Config, chat_id: str, now: datetime) -> bool:
    """Whether a customer group has no task left this month (spent plus waiting in the outbox).

    A task over the cap would wait in the outbox until next month; yesterday's content a month late is
    worse than none, so the slot is recorded as over_cap and logged instead. The transport's limiter
    stays the authority; this is the scheduler's look before it queues.
    """
    group = config.group(chat_id)
    limits = config.outbound.limits
    if group is None or group.push != "customer_task" or not limits.enabled or config.outbox.transport != "wecom":
        return False
    cap = limits.customer_task_per_month or days_in_month(now, config.zone)
    month = window("month", now, config.zone)[0]
    spent = rate_limit.used(session, f"customer_task:{chat_id}/month", month)
    return spent + outbox_rows.count_unsent(session, CHANNEL_GROUP, chat_id) >= cap


def run_calendar(
    session_factory: sessionmaker[Session], config: Config, now: datetime, *, worker: str
) -> CalendarReport:
    """Post every slot since the last pass: on time or within the grace period; older ones are skipped and logged."""
    report = CalendarReport()
    grace = timedelta(minutes=SCHEDULER_SECTION.of(config).grace_minutes)
    with session_factory() as session:
        since = calendar_delivery.checked_until(session, CURSOR)
    if since is None:
        # The calendar starts when a scheduler first runs here: slots from before then were never due to it.
        with session_factory.begin() as session:
            calendar_delivery.advance(session, CURSOR, now)
        return report
    start = max(since, now - MAX_LOOKBACK)
    if start >= now:
        return report
    for slot in slots_between(config, start, now):
        late = now - slot.at > grace
        try:
            claimed, already, capped = deliver(session_factory, config, slot, now, worker=worker, late=late)
        except Exception:
            # Keep the cursor just before this slot so the next pass tries it again (a database that was away);
            # a slot that keeps failing falls out of the grace period and is then recorded as skipped.
            log.exception("calendar %s slot at %s could not be queued; trying again next pass", slot.entry.id, slot.at)
            report.failed += 1
            with session_factory.begin() as session:
                calendar_delivery.advance(session, CURSOR, slot.at - timedelta(microseconds=1))
            return report
        report.already += already
        report.over_cap += capped
        claimed -= capped
        if late:
            report.skipped += claimed
            if claimed:
                where = slot.at.astimezone(config.zone)
                report.skipped_slots.append(f"{slot.entry.id}@{where:%Y-%m-%d %H:%M}")
                log.warning(
                    "calendar %s slot %s skipped for %d group(s): %s late, beyond the grace of %d minutes",
                    slot.entry.id,
                    f"{where:%Y-%m-%d %H:%M}",
                    claimed,
                    now - slot.at,
                    SCHEDULER_SECTION.of(config).grace_minutes,
                )
        else:
            report.queued += claimed
            if claimed:
                log.info("calendar %s queued for %d group(s)", slot.entry.id, claimed)
    with session_factory.begin() as session:
        calendar_delivery.advance(session, CURSOR, now)
    return report
