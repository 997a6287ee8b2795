"""/wecom/aibot: the intelligent robot (智能机器人). JSON, receive id ""; the answer rides in the HTTP response."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, request

from bot.events import Event
from bot.inbound.common import answer_url_verification, not_configured, open_post, plain, refusal, services
from bot.text import mentions_in, strip_leading_mentions
from bot.wecom.crypto import CallbackCrypto, MalformedPayload, SignatureRejected

log = logging.getLogger(__name__)
blueprint = Blueprint("aibot_callback", __name__)
AIBOT_RECEIVE_ID = ""


@blueprint.route("/wecom/aibot", methods=["GET", "POST"])
def aibot_callback() -> Response:
    svc = services()
    aibot = svc.config().aibot
    if not aibot.callback_ready:
        return not_configured("aibot", "aibot.token / encoding_aes_key")
    crypto = CallbackCrypto(aibot.token, aibot.encoding_aes_key, AIBOT_RECEIVE_ID)
    if request.method == "GET":
        return answer_url_verification(crypto, "aibot")
    try:
        message = _json_object(open_post(crypto, _envelope_encrypt))
        if message.get("msgtype") == "stream":
            # A refresh poll for a stream; ours are always finished in the first answer.
            return plain("")
        event = event_from_aibot(message, svc.clock.now())
    except (SignatureRejected, MalformedPayload) as exc:
        return refusal("aibot", exc)
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


def _envelope_encrypt(body: bytes) -> str:
    envelope = _json_object(body)
    encrypted = envelope.get("encrypt")
    if not isinstance(encrypted, str) or not encrypted:
        raise MalformedPayload('no "encrypt" string in the body')
    return encrypted


def _json_object(data: bytes | str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedPayload(f"not JSON ({type(exc).__name__})") from exc
    if not isinstance(value, dict):
        raise MalformedPayload("JSON body is not an object")
    return value


def _text_of(message: dict[str, Any]) -> str:
    msgtype = message.get("msgtype")
    if msgtype == "text":
        return str(_field(message, "text", "content"))
    if msgtype == "voice":
        return str(_field(message, "voice", "content"))  # WeCom sends the transcription
    if msgtype == "mixed":
        items = _field(message, "mixed", "msg_item")
        if not isinstance(items, list):
            raise MalformedPayload("mixed.msg_item is not a list")
        return " ".join(
            str(item.get("text", {}).get("content", ""))
            for item in items
            if isinstance(item, dict) and item.get("msgtype") == "text"
        )
    return ""


def _field(message: dict[str, Any], outer: str, inner: str) -> Any:
    block = message.get(outer)
    if not isinstance(block, dict) or inner not in block:
        raise MalformedPayload(f"{outer}.{inner} is missing")
    return block[inner]


def event_from_aibot(message: dict[str, Any], now: datetime) -> Event:
    """Turn a decrypted aibot callback into an Event."""
    sender = message.get("from")
    user = sender.get("userid") if isinstance(sender, dict) else None
    chat = message.get("chatid") if message.get("chattype") == "group" else None
    msgtype = message.get("msgtype")
    msg_id = message.get("msgid") or None
    if not isinstance(msgtype, str):
        raise MalformedPayload("msgtype is missing")
    common: dict[str, Any] = {
        "source": "aibot",
        "user_id": str(user) if user else None,
        "chat_id": str(chat) if chat else None,
        "at": now,
        "msg_id": str(msg_id) if msg_id else None,
        "response_url": message.get("response_url"),
    }
    if msgtype == "event":
        block = message.get("event")
        name = block.get("eventtype") if isinstance(block, dict) else None
        if not name:
            raise MalformedPayload("event.eventtype is missing")
        return Event(kind="event", name=str(name), data=message, **common)
    if msgtype in ("text", "voice", "mixed"):
        text = _text_of(message)
        return Event(kind="text", text=text, mentions=mentions_in(strip_leading_mentions(text)), **common)
    return Event(kind="other", name=msgtype, data=message, **common)
