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
# Answers to a member go out at once; everything else ("push") waits for quiet hours to end.
PURPOSE_ANSWER = "answer"
PURPOSE_PUSH = "push"
# WeCom keeps an aibot message's response_url valid for one hour.
RESPONSE_URL_LIFETIME_SECONDS = 3600


def queue_reply(
    session: Session,
    reply: Reply,
    now: datetime,
    *,
    origin: Event | str,
    not_before: datetime | None = None,
) -> outbox_rows.OutboxMessage | None:
    """Write `reply` to the outbox (not sent before `not_before`); the one way any message is queued.

    `origin` is the event being answered, or, for work no event triggered (a deadline, a calendar
    slot, a nudge), a key naming that work; such a reply must say where it goes. Returns None when
    the reply has nowhere to go.
    """
    values = _outbox_values(reply, now, origin=origin, not_before=not_before)
    return None if values is None else outbox_rows.add_message(session, **values)


def queue_replies(session: Session, replies: Sequence[Reply], now: datetime, *, origin: str) -> list[int]:
    """Queue many replies of one job (a calendar slot's fan-out) in one INSERT; return their row ids in order.

    The batch form of `queue_reply`, for work no event triggered: every reply must name its chat or
    user, and each row is exactly the one `queue_reply` would write.
    """
    rows = []
    for reply in replies:
        values = _outbox_values(reply, now, origin=origin, not_before=None)
        if values is None:
            raise ValueError("a reply queued in a batch must say where it goes")
        rows.append(values)
    return outbox_rows.add_messages(session, rows)


def _outbox_values(
    reply: Reply, now: datetime, *, origin: Event | str, not_before: datetime | None
) -> dict[str, Any] | None:
    event = origin if isinstance(origin, Event) else None
    answers = event is not None and (
        reply.answers_origin or (reply.to_user is not None and reply.to_user == event.user_id)
    )
    payload: dict[str, object] = {"msgtype": reply.msgtype, "content": reply.text, "mentions": list(reply.mentions)}
    if reply.articles:
        payload["articles"] = [dict(article) for article in reply.articles]
    payload["purpose"] = PURPOSE_ANSWER if answers else PURPOSE_PUSH
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
    return {
        "channel": channel,
        "target_kind": kind,
        "target": target,
        "payload": payload,
        "now": now,
        "origin": origin_key(origin),
        "not_before": not_before,
    }


def origin_key(origin: Event | str) -> str:
    """The outbox row's origin: the event's de-dup key, or the job's own key."""
    return origin.dedup_key if isinstance(origin, Event) else origin
