"""Queue replies as outbox rows: the one way any message leaves (the drainer delivers them)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from bot.events import Event
from bot.replies import Reply
from models import outbox as outbox_rows

log = logging.getLogger(__name__)

# The WeCom channel a reply needs; the transport configured for it decides how it really leaves.
CHANNEL_APP_MESSAGE = "app_message"
CHANNEL_GROUP = "group"
CHANNEL_AIBOT_RESPONSE = "aibot_response"
# 微信客服: the only channel that reaches a WeChat customer 1:1 (within their 48-hour window).
CHANNEL_KF = "kf_message"
# WeChat customers' external_userid starts with these; WeCom refuses app messages to them.
EXTERNAL_ID_PREFIXES = ("wm", "wo")
# Answers to a member go out at once; everything else ("push") waits for quiet hours to end.
PURPOSE_ANSWER = "answer"
PURPOSE_PUSH = "push"
# An operator's announcement sent with `groupbot send --now`: a push that does not wait for quiet hours.
PURPOSE_URGENT = "urgent"
# WeCom keeps an aibot message's response_url valid for one hour.
RESPONSE_URL_LIFETIME_SECONDS = 3600


def queue_reply(
    session: Session,
    reply: Reply,
    now: datetime,
    *,
    origin: Event | str,
    not_before: datetime | None = None,
    urgent: bool = False,
) -> outbox_rows.QueuedMessage | None:
    """Write `reply` to the outbox (not sent before `not_before`); the one way any message is queued.

    `origin` is the event being answered, or, for work no event triggered (a deadline, a calendar
    slot, a nudge), a key naming that work; such a reply must say where it goes. `urgent` lets a push skip
    quiet hours (an operator's `groupbot send --now`). Returns None when the reply has nowhere to go.
    """
    values = _outbox_values(reply, now, origin=origin, not_before=not_before, urgent=urgent)
    return None if values is None else outbox_rows.queue_message(session, **values)


def queue_replies(session: Session, replies: Sequence[Reply], now: datetime, *, origin: str) -> list[int]:
    """Queue many replies of one job (a calendar slot's fan-out) in one INSERT; return their row ids in order.

    The batch form of `queue_reply`, for work no event triggered: every reply must name its chat or
    user, and each row is exactly the one `queue_reply` would write.
    """
    rows = []
    for reply in replies:
        values = _outbox_values(reply, now, origin=origin, not_before=None, urgent=False)
        if values is None:
            raise ValueError("a reply queued in a batch must say where it goes")
        rows.append(values)
    return outbox_rows.add_messages(session, rows)


def _outbox_values(
    reply: Reply, now: datetime, *, origin: Event | str, not_before: datetime | None, urgent: bool
) -> dict[str, Any] | None:
    event = origin if isinstance(origin, Event) else None
    answers = event is not None and (
        reply.answers_origin or (reply.to_user is not None and reply.to_user == event.user_id)
    )
    payload: dict[str, object] = {"msgtype": reply.msgtype, "content": reply.text, "mentions": list(reply.mentions)}
    if reply.articles:
        payload["articles"] = [dict(article) for article in reply.articles]
    if reply.menu:
        payload["menu"] = [[item_id, label] for item_id, label in reply.menu]
    payload["purpose"] = PURPOSE_ANSWER if answers else (PURPOSE_URGENT if urgent else PURPOSE_PUSH)
    if reply.on_send:
        payload["on_send"] = dict(reply.on_send)
    if event is not None and reply.via_response_url and reply.answers_origin and event.response_url:
        payload["response_url"] = event.response_url
        payload["expires_at"] = (event.at + timedelta(seconds=RESPONSE_URL_LIFETIME_SECONDS)).isoformat()
        kind = "chat" if event.chat_id else "user"
        target = event.chat_id or event.user_id or ""
        channel = CHANNEL_AIBOT_RESPONSE
    elif reply.to_chat:
        channel, kind, target = CHANNEL_GROUP, "chat", str(reply.to_chat)
    else:
        user = reply.to_user or (event.user_id if event is not None else None)
        if not user:
            log.warning("dropping a reply with no recipient from %s", origin_key(origin))
            return None
        channel, kind, target = CHANNEL_APP_MESSAGE, "user", user
        if event is not None and event.source == "kf" and user == event.user_id:
            channel = CHANNEL_KF
        elif is_external(user):
            # An app message never reaches a WeChat customer; kf can, while their window is open.
            log.info(
                "reply to WeChat customer %s from %s queued for 微信客服, not as an app message",
                user,
                origin_key(origin),
            )
            channel = CHANNEL_KF
    return {
        "channel": channel,
        "target_kind": kind,
        "target": target,
        "payload": payload,
        "now": now,
        "origin": origin_key(origin),
        "not_before": not_before,
    }


def is_external(user_id: str) -> bool:
    """Tell whether `user_id` is a WeChat customer's external_userid rather than a staff member's userid."""
    return user_id.startswith(EXTERNAL_ID_PREFIXES)


def origin_key(origin: Event | str) -> str:
    """The outbox row's origin: the event's de-dup key, or the job's own key."""
    return origin.dedup_key if isinstance(origin, Event) else origin
