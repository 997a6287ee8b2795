"""Typed models of the decrypted messages, checked before anything reaches the database.

A message that passed the signature check but has an impossible shape (a tag twice, an element
where a scalar belongs, a string where an object belongs, an id wider than its column) is an
InvalidMessage: the adapter logs one line and answers 200, because WeCom retries anything else
forever. Widths come from the columns the values end up in, so PostgreSQL (which enforces them)
and SQLite (which does not) give the same answer.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator

from bot.inbound.envelope import MESSAGE_MAX_DEPTH, bounded_json_object, safe_xml
from bot.text import storable_tree
from bot.wecom.crypto import MalformedPayload
from models.base import width
from models.processed_event import ProcessedEvent

_columns = ProcessedEvent.__table__.c
USER_ID_MAX = width(_columns.user_id)
CHAT_ID_MAX = width(_columns.chat_id)
EVENT_NAME_MAX = width(_columns.kind)
# The de-duplication key is "<source>:msg:<id>"; "aibot" is the longest source.
MSG_ID_MAX = width(_columns.dedup_key) - len("aibot:msg:")
URL_MAX = 2048
# <xml> → <ExtAttr> → <Item> → <Name> (change_contact) is the deepest app callback WeCom documents.
XML_MAX_DEPTH = 5

UserIdText = Annotated[str, StringConstraints(max_length=USER_ID_MAX)]
ChatIdText = Annotated[str, StringConstraints(max_length=CHAT_ID_MAX)]
EventNameText = Annotated[str, StringConstraints(min_length=1, max_length=EVENT_NAME_MAX)]
MsgIdText = Annotated[str, StringConstraints(max_length=MSG_ID_MAX)]
UrlText = Annotated[str, StringConstraints(max_length=URL_MAX)]


class InvalidMessage(Exception):
    """A correctly signed message that cannot be taken: answered 200 and logged, never retried."""

    def __init__(self, reason: str, msg_id: str):
        super().__init__(reason)
        self.reason = reason
        self.msg_id = msg_id


class _Message(BaseModel):
    # WeCom adds fields over time; unknown ones are kept (they are scalars or bounded by depth).
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


# --- aibot (JSON) ----------------------------------------------------------------------------------


class AibotSender(_Message):
    userid: UserIdText | None = None


class AibotContent(_Message):
    content: str


class AibotItem(_Message):
    msgtype: str
    text: AibotContent | None = None


class AibotMixed(_Message):
    msg_item: list[AibotItem]


class AibotEventBlock(_Message):
    eventtype: EventNameText


class AibotStreamRef(_Message):
    id: MsgIdText


class AibotMessage(_Message):
    msgid: MsgIdText | None = None
    chattype: Literal["single", "group"] | None = None
    chatid: ChatIdText | None = None
    sender: AibotSender | None = Field(default=None, alias="from")
    msgtype: EventNameText
    response_url: UrlText | None = None
    text: AibotContent | None = None
    voice: AibotContent | None = None
    mixed: AibotMixed | None = None
    event: AibotEventBlock | None = None
    # A refresh callback for a stream this service answered earlier (msgtype "stream").
    stream: AibotStreamRef | None = None

    @model_validator(mode="after")
    def _block_for_type(self) -> AibotMessage:
        if self.msgtype in ("text", "voice", "mixed", "event", "stream") and getattr(self, self.msgtype) is None:
            raise ValueError(f"a {self.msgtype} message needs its {self.msgtype!r} object")
        return self

    def text_content(self) -> str:
        """Return what the member wrote (a voice message carries WeCom's transcription)."""
        if self.text is not None and self.msgtype == "text":
            return self.text.content
        if self.voice is not None and self.msgtype == "voice":
            return self.voice.content
        if self.mixed is not None and self.msgtype == "mixed":
            return " ".join(i.text.content for i in self.mixed.msg_item if i.msgtype == "text" and i.text)
        return ""


def aibot_message(plaintext: str) -> tuple[AibotMessage, dict[str, Any]]:
    """Read a decrypted aibot callback; return the model and the cleaned raw object, or raise InvalidMessage."""
    try:
        raw = storable_tree(bounded_json_object(plaintext, MESSAGE_MAX_DEPTH))
    except MalformedPayload as exc:
        raise InvalidMessage(str(exc), _fingerprint(plaintext)) from None
    msg_id = raw.get("msgid") if isinstance(raw.get("msgid"), str) else None
    try:
        return AibotMessage.model_validate(raw), raw
    except ValidationError as exc:
        raise InvalidMessage(_first_error(exc), _short(msg_id) or _fingerprint(plaintext)) from None


# --- self-built app (XML) --------------------------------------------------------------------------

Scalar = str | None


class MemberList(_Message):
    # One member arrives as a string, several as a list (xmltodict's shape, which handlers read).
    Item: UserIdText | list[UserIdText] | None = None


class AppMessage(_Message):
    MsgType: EventNameText
    ToUserName: Scalar = None
    FromUserName: UserIdText | None = None
    CreateTime: Scalar = None
    MsgId: MsgIdText | None = None
    Content: Scalar = None
    Event: EventNameText | None = None
    ChatId: ChatIdText | None = None
    ChangeType: Scalar = None
    UpdateDetail: Scalar = None
    JoinScene: Scalar = None
    QuitScene: Scalar = None
    MemChangeCnt: Scalar = None
    MemChangeList: MemberList | None = None

    @field_validator("MsgType", "Event")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return value.lower() if value else value

    @model_validator(mode="after")
    def _event_named(self) -> AppMessage:
        if self.MsgType == "event" and not self.Event:
            raise ValueError("an event needs <Event>")
        return self


def app_message(plaintext: str) -> tuple[AppMessage, dict[str, Any]]:
    """Read a decrypted app callback; return the model and the raw fields, or raise InvalidMessage."""
    try:
        root = safe_xml(plaintext)
    except MalformedPayload as exc:
        raise InvalidMessage(str(exc), _fingerprint(plaintext)) from None
    msg_id = _short(root.findtext("MsgId"))
    try:
        raw = storable_tree(_xml_fields(root, 1))
        if not isinstance(raw, dict):
            raise ValueError("the message has no fields")
        return AppMessage.model_validate(raw), raw
    except (ValueError, ValidationError) as exc:  # ValidationError is a ValueError; named for the reader
        reason = _first_error(exc) if isinstance(exc, ValidationError) else str(exc)
        raise InvalidMessage(reason, msg_id or _fingerprint(plaintext)) from None


def _xml_fields(element: Any, depth: int) -> dict[str, Any] | str | None:
    """Turn an element into xmltodict's shape: text for a leaf, a dict of children, lists for repeats.

    At the top a repeated tag is refused (which <Content> would count?); below it a repeat is a list.
    """
    children = list(element)
    if not children:
        return (element.text or "").strip() or None  # xmltodict strips whitespace too
    if depth > XML_MAX_DEPTH - 1:
        raise ValueError(f"<{element.tag}> nests deeper than a WeCom message does")
    fields: dict[str, Any] = {}
    for child in children:
        value = _xml_fields(child, depth + 1)
        if child.tag not in fields:
            fields[child.tag] = value
        elif depth == 1:
            raise ValueError(f"<{child.tag}> appears twice")
        elif isinstance(fields[child.tag], list):
            fields[child.tag].append(value)
        else:
            fields[child.tag] = [fields[child.tag], value]
    return fields


# --- shared ----------------------------------------------------------------------------------------


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(part) for part in err["loc"]) or "message"
    return f"{where}: {err['msg']} (of {exc.error_count()} problem(s))"


def _short(value: str | None) -> str | None:
    return value[:64] if value else None


def _fingerprint(plaintext: str) -> str:
    """Name a message that has no readable id, so its log lines can be matched up."""
    return "sha256:" + hashlib.sha256(plaintext.encode("utf-8", "surrogatepass")).hexdigest()[:16]
