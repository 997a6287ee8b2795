"""/wecom/callback: the self-built app (自建应用). XML, receive id = CorpID; replies go through the outbox."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, request

from bot.events import Event
from bot.inbound.common import (
    answer_url_verification,
    ignored,
    not_configured,
    open_post,
    plain,
    refusal,
    services,
)
from bot.inbound.envelope import xml_envelope_encrypt
from bot.inbound.messages import AppMessage, InvalidMessage, app_message
from bot.wecom.crypto import CallbackCrypto, MalformedPayload, SignatureRejected

log = logging.getLogger(__name__)
blueprint = Blueprint("app_callback", __name__)


@blueprint.route("/wecom/callback", methods=["GET", "POST"])
def app_callback() -> Response:
    svc = services()
    wecom = svc.config().wecom
    if not wecom.callback_ready:
        return not_configured("app", "wecom.corp_id / token / encoding_aes_key")
    crypto = CallbackCrypto(wecom.token, wecom.encoding_aes_key, wecom.corp_id)
    if request.method == "GET":
        return answer_url_verification(crypto, "app")
    try:
        message, raw = app_message(open_post(crypto, xml_envelope_encrypt, fresh_within=wecom.max_clock_skew_seconds))
    except (SignatureRejected, MalformedPayload) as exc:
        return refusal("app", exc)
    except InvalidMessage as exc:
        return ignored("app", exc)
    svc.dispatcher.handle(event_from_app(message, raw, svc.clock.now()))
    # WeCom only needs a 200 within 5 s; the answer itself leaves through the outbox.
    return plain("")


def event_from_app(message: AppMessage, data: dict[str, Any], now: datetime) -> Event:
    """Turn a validated app callback into an Event; `data` keeps the raw fields (MemChangeList and friends)."""
    user = message.FromUserName or None
    at = _timestamp(message.CreateTime, now)
    msg_id = message.MsgId if message.MsgId not in (None, "", "0") else None
    if message.MsgType == "text":
        return Event(
            kind="text", source="app", user_id=user, chat_id=None, at=at, text=message.Content or "", msg_id=msg_id
        )
    if message.MsgType == "event":
        return Event(
            kind="event",
            source="app",
            user_id=user,
            chat_id=message.ChatId or None,
            at=at,
            name=message.Event,
            data=data,
            msg_id=msg_id,
        )
    return Event(
        kind="other", source="app", user_id=user, chat_id=None, at=at, name=message.MsgType, msg_id=msg_id, data=data
    )


# CreateTime outside these is no real message's; the bounds keep zone arithmetic off datetime's limits.
_EARLIEST, _LATEST = 946_684_800, 4_102_444_800  # 2000-01-01, 2100-01-01


def _timestamp(value: object, now: datetime) -> datetime:
    text = str(value)
    if not (text.isascii() and text.isdigit() and len(text) <= 10 and _EARLIEST <= int(text) < _LATEST):
        return now
    return datetime.fromtimestamp(int(text), UTC)
