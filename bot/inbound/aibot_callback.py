"""/wecom/aibot: the intelligent robot (智能机器人). JSON, receive id ""; the answer rides in the HTTP response."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy.orm import Session, sessionmaker

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
from bot.transports import sizes
from bot.wecom.crypto import CallbackCrypto, MalformedPayload, SignatureRejected
from models import aibot_stream

log = logging.getLogger(__name__)
blueprint = Blueprint("aibot_callback", __name__)
AIBOT_RECEIVE_ID = ""
# A member opened the 1:1 chat with the bot: WeCom allows a welcome (text) answer, not a stream.
ENTER_CHAT = "enter_chat"


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
        # WeCom refreshes a stream until it sees it finished; ours finish in the first answer, so a refresh
        # (a lost answer, a retry) gets the stored finished frame again.
        refreshed = refreshed_stream(svc.session_factory, message.stream.id if message.stream else "")
        return encrypted(crypto, refreshed) if refreshed is not None else plain("")
    event = event_from_aibot(message, raw, svc.clock.now())
    outcome = svc.dispatcher.handle(event)
    if not outcome.passive:
        # Events with no answer (template_card_event, feedback_event) are recorded by the dispatcher.
        return plain("")
    marker = config.texts.render("outbound_cut_marker")
    answer = answer_body(svc.session_factory, event, outcome.passive_text, svc.clock.now(), marker)
    return encrypted(crypto, answer)


def encrypted(crypto: CallbackCrypto, body: dict[str, Any]) -> Response:
    return Response(
        json.dumps(crypto.encrypt(json.dumps(body, ensure_ascii=False)), ensure_ascii=False),
        mimetype="application/json",
    )


def answer_body(
    factory: sessionmaker[Session], event: Event, content: str, now: datetime, marker: str
) -> dict[str, Any]:
    """Build the passive answer: a text message for enter_chat (WeCom takes no stream for events), else a stream.

    The stream's finished content is stored under its id for refresh callbacks; both ride the size limits.
    """
    if event.kind == "event" and event.name == ENTER_CHAT:
        return {"msgtype": "text", "text": {"content": sizes.cut(content, sizes.AIBOT_STREAM, marker)}}
    reply = stream_reply(event, sizes.cut(content, sizes.AIBOT_STREAM, marker))
    with factory.begin() as session:
        aibot_stream.remember(session, reply["stream"]["id"], reply["stream"]["content"], now)
    return reply


def refreshed_stream(factory: sessionmaker[Session], stream_id: str) -> dict[str, Any] | None:
    """Return the stored finished frame of stream `stream_id`, or None for a stream this service never began."""
    if not stream_id:
        return None
    with factory() as session:
        content = aibot_stream.content_of(session, stream_id)
    if content is None:
        return None
    return {"msgtype": "stream", "stream": {"id": stream_id, "finish": True, "content": content}}


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
