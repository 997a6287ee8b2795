"""/wecom/callback: the self-built app (自建应用). XML, receive id = CorpID; replies go through the outbox."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from flask import Blueprint, Response, request
from wechatpy.work import parse_message

from bot.events import Event
from bot.inbound.common import answer_url_verification, not_configured, open_post, plain, refusal, services
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
        event = event_from_app_xml(open_post(crypto, _envelope_encrypt), svc.clock.now())
    except (SignatureRejected, MalformedPayload) as exc:
        return refusal("app", exc)
    svc.dispatcher.handle(event)
    # WeCom only needs a 200 within 5 s; the answer itself leaves through the outbox.
    return plain("")


def _safe_xml(data: bytes | str) -> Element:
    # defusedxml refuses DTDs, entity declarations and external references instead of expanding them.
    try:
        return SafeET.fromstring(data, forbid_dtd=True)
    except (SafeET.ParseError, DefusedXmlException, ValueError) as exc:
        raise MalformedPayload(f"not acceptable XML ({type(exc).__name__})") from exc


def _envelope_encrypt(body: bytes) -> str:
    if not body:
        raise MalformedPayload("empty body")
    root = _safe_xml(body)
    encrypted = (root.findtext("Encrypt") or "").strip()
    if not encrypted:
        raise MalformedPayload("no <Encrypt> element")
    return encrypted


def event_from_app_xml(plaintext: str, now: datetime) -> Event:
    """Turn a decrypted app callback into an Event."""
    _safe_xml(plaintext)
    try:
        message = parse_message(plaintext)
    except Exception as exc:  # xmltodict/wechatpy raise assorted errors on odd but well-formed XML
        raise MalformedPayload(f"unreadable message ({type(exc).__name__})") from exc
    if message is None:
        raise MalformedPayload("empty message")
    # wechatpy keeps the raw fields only on this attribute; MemChangeList and friends need them.
    data = dict(message._data)
    user = data.get("FromUserName") or None
    at = _timestamp(data.get("CreateTime"), now)
    msg_id = str(data["MsgId"]) if data.get("MsgId") not in (None, "", "0") else None
    if message.type == "text":
        return Event(
            kind="text", source="app", user_id=user, chat_id=None, at=at, text=data.get("Content") or "", msg_id=msg_id
        )
    if message.type == "event":
        return Event(
            kind="event",
            source="app",
            user_id=user,
            chat_id=data.get("ChatId") or None,
            at=at,
            name=str(data.get("Event", "")).lower(),
            data=data,
            msg_id=msg_id,
        )
    return Event(
        kind="other", source="app", user_id=user, chat_id=None, at=at, name=message.type, msg_id=msg_id, data=data
    )


def _timestamp(value: object, now: datetime) -> datetime:
    try:
        return datetime.fromtimestamp(int(str(value)), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return now
