"""Customer-group content waits for the guide's chat-toolbar page (sidebar) before, or instead of, a task.

A customer task (add_msg_template) reaches a group about once a day; the guide's own message, sent with
one tap from the sidebar (JS-SDK sendChatMessage), has no such cap. So content for a customer group with
`delivery: sidebar` or `sidebar_then_task` is held as `waiting`; the guide is told once (rate-limited) by
app message, and with `sidebar_then_task` a row not sent within web.sidebar_grace_minutes goes on as a task.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from bot.config.core import Config, GroupConfig
from bot.outbox import queue_reply
from bot.replies import Reply
from bot.transports.base import OutgoingMessage, WaitForGuide
from models import outbox as outbox_rows
from models import rate_limit

# A `delivery: sidebar` row is looked at again daily, so a changed delivery setting takes effect.
RECHECK_SIDEBAR_ONLY = timedelta(days=1)
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def hold_for_guide(
    session_factory: sessionmaker[Session], config: Config, group: GroupConfig, message: OutgoingMessage, now: datetime
) -> None:
    """Raise WaitForGuide while the row should wait for the guide's sidebar; return when it should go as a task."""
    if group.kind != "customer" or group.delivery == "task" or not group.guide:
        return
    grace = timedelta(minutes=config.web.sidebar_grace_minutes)
    since = message.waiting_since or now
    if group.delivery == "sidebar":
        until, reason = now + RECHECK_SIDEBAR_ONLY, "waiting for the guide to send it from the sidebar"
    elif now < since + grace:
        until = since + grace
        local = until.astimezone(config.zone)
        reason = f"waiting for the guide's sidebar until {local:%m-%d %H:%M}, then a customer task"
    else:
        return
    if message.waiting_since is None:
        with session_factory.begin() as session:
            notify_guide(session, config, group, now)
    raise WaitForGuide(until, reason)


def notify_guide(session: Session, config: Config, group: GroupConfig, now: datetime) -> bool:
    """Tell the guide by app message that content waits, at most once per web.notify_every_minutes."""
    guide = group.guide or ""
    every = timedelta(minutes=config.web.notify_every_minutes)
    start = EPOCH + every * ((now - EPOCH) // every)
    if not rate_limit.spend(session, f"sidebar_notice:{guide}", start, start + every, 1):
        return False
    chats = [g.chat_id for g in config.groups if g.kind == "customer" and g.guide == guide]
    # The row being held is still being sent, not yet waiting: it is one more.
    count = outbox_rows.count_waiting(session, chats) + 1
    text = config.texts.render("sidebar_waiting_notice", count=count, group=group.name)
    queue_reply(session, Reply(text, to_user=guide), now, origin=f"sidebar:notice:{guide}")
    return True
