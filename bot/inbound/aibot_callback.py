"""/wecom/aibot: the intelligent robot (智能机器人). JSON, receive id ""; the answer rides in the HTTP response."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime
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
from bot.inbound.envelope import json_envelope_encrypt
from bot.inbound.messages import AibotMessage, InvalidMessage, aibot_message
from bot.text import mentions_in, strip_leading_mentions
from bot.wecom.crypto import CallbackCrypto, MalformedPayload, SignatureRejected

log = logging.getLogger(__name__)
blueprint = Blueprint("aibot_callback", __name__)
AIBOT_RECEIVE_ID = ""


@blueprint.route("/wecom/aibot", methods=["GET", "POST"])
def aibot_callback() -> Response:
    svc = services()
    config = svc.config()
    aibot = config.aibot
    if not aibot.callback_ready:
        return not_configured("aibot", "aibot.token / encoding_aes_key")
    crypto = CallbackCrypto(aibot.token, aibot.encoding_aes_key, AIBOT_RECEIVE_ID)
    if request.method == "GET":
        return answer_url_verification(crypto, "aibot")
    try:
        plaintext = open_post(crypto, json_envelope_encrypt, fresh_within=config.wecom.max_clock_skew_seconds)
        message, raw = aibot_message(plaintext)
    except (SignatureRejected, MalformedPayload) as exc:
        return refusal("aibot", exc)
    except InvalidMessage as exc:
        return ignored("aibot", exc)
    if message.msgtype == "stream":
        # A refresh poll for a stream; ours are always finished in the first answer.
        return plain("")
    event = event_from_aibot(message, raw, svc.clock.now())
    outcome = svc.dispatcher.handle(event)
    if not outcome.passive:
        return plain("")
    reply = stream_reply(event, outcome.passive_text)
    return Response(
        json.dumps(crypto.encrypt(json.dumps(reply, ensure_ascii=False)), ensure_ascii=False),
        mimetype="application/json",
    )


def stream_reply(event: Event, content: str) -> dict[str, Any]:
    """Build the finished stream message that carries `content`; a retry gets the same stream id."""
    stream_id = hashlib.sha1(event.dedup_key.encode("utf-8")).hexdigest()[:20]
    return {"msgtype": "stream", "stream": {"id": stream_id, "finish": True, "content": content}}


def event_from_aibot(message: AibotMessage, raw: dict[str, Any], now: datetime) -> Event:
    """Turn a validated aibot callback into an Event."""
    user = message.sender.userid if message.sender else None
    chat = message.chatid if message.chattype == "group" else None
    common: dict[str, Any] = {
        "source": "aibot",
        "user_id": user or None,
        "chat_id": chat or None,
        "at": now,
        "msg_id": message.msgid or None,
        "response_url": message.response_url or None,
    }
    if message.event is not None and message.msgtype == "event":
        return Event(kind="event", name=message.event.eventtype, data=raw, **common)
    if message.msgtype in ("text", "voice", "mixed"):
        text = message.text_content()
        return Event(kind="text", text=text, mentions=mentions_in(strip_leading_mentions(text)), **common)
    return Event(kind="other", name=message.msgtype, data=raw, **common)
