"""One reactivation pass: find members gone quiet, take the ladder step their silence has reached, within the limits.

The leader scheduler calls `run_reactivation` every few minutes. A pass is one transaction that
holds the reactivation lock, so two passes at the same moment (or two schedulers) run one after
the other and the second finds every step already recorded: each member gets each step of a
dormant spell at most once.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from bot.config.core import Config, GroupConfig
from bot.outbox import queue_reply
from bot.replies import Reply
from bot.transports.wecom import quiet_until
from models import nudge
from models.business_day import business_day, day_start
from models.kf import window_open
from models.membership import display_names
from scheduler.reactivation.config import ACTION_TEXT, REACTIVATION_SECTION, LadderStep

log = logging.getLogger(__name__)

# WeCom gives external contacts (WeChat customers) userids starting with these; no app message reaches them.
EXTERNAL_ID_PREFIXES = ("wm", "wo")
# pg_advisory_xact_lock key of the pass ("react" in ASCII); SQLite serialises writers with BEGIN IMMEDIATE.
PASS_LOCK = 0x7265616374


@dataclass
class ReactivationSummary:
    """What one pass did: sent per ladder step (1-based) and why others were not nudged."""

    enabled: bool = True
    quiet_hours: bool = False
    nudged: dict[int, int] = field(default_factory=dict)
    holdout: int = 0
    unreachable: int = 0
    skipped_quiet_hours: int = 0
    skipped_caps: int = 0

    @property
    def total_nudged(self) -> int:
        return sum(self.nudged.values())


def in_holdout(user_id: str, salt: str, percent: float) -> bool:
    """Tell whether `user_id` is in the holdout: a stable hash, so the same members stay out pass after pass."""
    digest = hashlib.sha256(f"{salt}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 < round(percent * 100)


def is_external(user_id: str) -> bool:
    return user_id.startswith(EXTERNAL_ID_PREFIXES)


@dataclass(frozen=True)
class _Window:
    step: int
    rung: LadderStep
    silent_since: datetime
    silent_until: datetime


def _windows(config: Config, now: datetime) -> list[_Window]:
    """The silence each step covers: from its own day up to the next step's (the last: plus catch-up days)."""
    ladder = REACTIVATION_SECTION.of(config).ladder
    windows = []
    for index, rung in enumerate(ladder):
        if index + 1 < len(ladder):
            # Exactly at the next step's day the member belongs to that step.
            since = now - timedelta(days=ladder[index + 1].after_days) + timedelta(microseconds=1)
        else:
            since = now - timedelta(days=rung.after_days + REACTIVATION_SECTION.of(config).catch_up_days)
        windows.append(_Window(index + 1, rung, since, now - timedelta(days=rung.after_days)))
    return windows


def run_reactivation(session_factory: sessionmaker[Session], config: Config, now: datetime) -> ReactivationSummary:
    """Do one planning pass at `now`: record and queue the ladder steps that are due; return what happened."""
    settings = REACTIVATION_SECTION.of(config)
    if not settings.enabled:
        return ReactivationSummary(enabled=False)
    chat_ids = [group.chat_id for group in config.groups]
    with session_factory.begin() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PASS_LOCK})
        if quiet_until(settings.quiet_hours, now, config.zone) is not None:
            return _count_waiting(session, config, now, chat_ids)
        return _pass(session, config, now, chat_ids)


def _count_waiting(session: Session, config: Config, now: datetime, chat_ids: list[str]) -> ReactivationSummary:
    summary = ReactivationSummary(quiet_hours=True)
    for window in _windows(config, now):
        summary.skipped_quiet_hours += len(_candidates(session, config, window, chat_ids, now))
    return summary


def _candidates(
    session: Session, config: Config, window: _Window, chat_ids: list[str], now: datetime
) -> list[nudge.Dormant]:
    gap = REACTIVATION_SECTION.of(config).min_gap_hours
    return nudge.dormant_candidates(
        session,
        step=window.step,
        silent_since=window.silent_since,
        silent_until=window.silent_until,
        chat_ids=chat_ids,
        gap_since=now - timedelta(hours=gap) if gap > 0 else None,
        limit=REACTIVATION_SECTION.of(config).batch_size,
    )


def _pass(session: Session, config: Config, now: datetime, chat_ids: list[str]) -> ReactivationSummary:
    settings = REACTIVATION_SECTION.of(config)
    summary = ReactivationSummary()
    today = day_start(business_day(now, config.zone, 0), config.zone, 0)
    sent_total, sent_per_group = nudge.sent_since(session, today)
    # The minimum gap holds across groups and within this pass too.
    nudged_now: set[str] = set()
    for window in _windows(config, now):
        open_groups = [chat for chat in chat_ids if sent_per_group.get(chat, 0) < settings.daily_cap_per_group]
        for member in _candidates(session, config, window, open_groups, now):
            held = in_holdout(member.user_id, settings.holdout_salt, settings.holdout_percent)
            if not held and settings.min_gap_hours > 0 and member.user_id in nudged_now:
                continue
            if not held and (
                sent_total >= settings.daily_cap_total
                or sent_per_group.get(member.chat_id, 0) >= settings.daily_cap_per_group
            ):
                summary.skipped_caps += 1
                continue
            outcome, reply = (nudge.HOLDOUT, None) if held else _plan(session, config, member, window, now)
            if not nudge.record(
                session,
                member,
                step=window.step,
                action=window.rung.action,
                outcome=outcome,
                holdout=held,
                at=now,
            ):
                continue  # pragma: no cover - the pass lock makes a second pass wait, then find nothing due
            if reply is not None:
                _queue(session, reply, member, window, now)
                summary.nudged[window.step] = summary.nudged.get(window.step, 0) + 1
                sent_total += 1
                sent_per_group[member.chat_id] = sent_per_group.get(member.chat_id, 0) + 1
                nudged_now.add(member.user_id)
            elif outcome == nudge.HOLDOUT:
                summary.holdout += 1
            else:
                summary.unreachable += 1
    if summary.total_nudged or summary.skipped_caps:
        log.info("reactivation pass: %s", summary)
    return summary


def _plan(
    session: Session, config: Config, member: nudge.Dormant, window: _Window, now: datetime
) -> tuple[str, Reply | None]:
    """Decide what this step sends this member: SENT with the message, or UNREACHABLE when it reaches no one."""
    group = config.group(member.chat_id)
    assert group is not None  # candidates come from configured groups only
    name = display_names(session, [member.user_id], config.texts.render("stand_in_name"))[member.user_id]
    fields = {"name": name, "group": group.name, "days": (now - member.last_active_at).days}
    rung = window.rung
    message = rung.text.format_map(fields) if rung.text else config.texts.render(ACTION_TEXT[rung.action], **fields)
    if rung.action == "group_mention":
        if not _can_mention(group):
            return nudge.UNREACHABLE, None
        return nudge.SENT, Reply(message, to_chat=member.chat_id, mentions=(member.user_id,))
    # A WeChat customer is reached 1:1 only through 微信客服, and only while their 48-hour window is open.
    reachable = not is_external(member.user_id) or window_open(session, member.user_id, now)
    if rung.action == "private_note" and reachable:
        return nudge.SENT, Reply(message, to_user=member.user_id)
    # The membership's own guide (models.membership.guide_of for this chat), else the group's.
    guide = member.guide or group.guide
    if guide is None or guide == member.user_id:
        return nudge.UNREACHABLE, None
    if rung.action == "private_note":
        # No app message reaches a WeChat customer: their guide gets the note to send 1:1.
        message = config.texts.render("reactivation_note_via_guide", **fields, note=message)
    return nudge.SENT, Reply(message, to_user=guide)


def _queue(session: Session, reply: Reply, member: nudge.Dormant, window: _Window, now: datetime) -> None:
    # Outside any message: the origin names the member, the step and the dormant spell.
    spell = member.last_active_at.isoformat()
    origin = f"reactivation:{member.chat_id}:{member.user_id}:{window.step}:{spell}"
    queue_reply(session, reply, now, origin=origin)


def _can_mention(group: GroupConfig) -> bool:
    # A customer group is reached by guide-confirmed tasks: they cannot @ anyone and spend the monthly task budget.
    return group.kind == "internal" and group.push != "customer_task"
