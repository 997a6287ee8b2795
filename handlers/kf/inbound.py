"""Turn one pulled kf message into an Event in the context of one customer group.

A pulled message is WeCom's JSON from kf/sync_msg (https://developer.work.weixin.qq.com/document/path/94670):
`origin` 3 is the customer's own message, 4 a system event (enter_session …), 5 a servicer's.
The group is the one the link's scene_param names (remembered on enter_session), else the
customer's only customer group, else the one they picked from the bot's menu this session.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.config.core import Config
from bot.events import Event
from handlers.kf.config import GROUP_CHOICE_PREFIX, KF_SECTION, scene_param
from models import kf as kf_rows
from models.membership import is_member

ORIGIN_CUSTOMER, ORIGIN_SYSTEM = 3, 4
# Event names the kf capability reacts to (each a normalised Event, de-duplicated by the kf msgid).
ENTER_SESSION = "kf_enter_session"
ASK_GROUP = "kf_ask_group"
CHOOSE_GROUP = "kf_choose_group"
MENU_GONE = "kf_menu_gone"
UNSUPPORTED = "kf_unsupported"
TEXT_MAX = 2048


def group_of_scene(config: Config, scene: str | None) -> str | None:
    """The customer group whose link carries `scene` as scene_param."""
    if not scene:
        return None
    return next((g.chat_id for g in config.groups if g.kind == "customer" and scene_param(g.chat_id) == scene), None)


def customer_groups(session: Session, config: Config, user: str) -> list[str]:
    """The configured customer groups `user` is a member of now."""
    return [g.chat_id for g in config.groups if g.kind == "customer" and is_member(session, g.chat_id, user)]


def _configured_customer_group(config: Config, chat_id: str | None) -> str | None:
    group = config.group(chat_id) if chat_id else None
    return group.chat_id if group is not None and group.kind == "customer" else None


def _at(body: dict[str, Any], now: datetime) -> datetime:
    sent = body.get("send_time")
    if isinstance(sent, int) and 946_684_800 <= sent < 4_102_444_800:
        return datetime.fromtimestamp(sent, UTC)
    return now


def event_of(session: Session, config: Config, pulled: kf_rows.Pulled, now: datetime) -> Event | None:
    """Return the Event a pulled message stands for, or None for what the bot does not answer."""
    body = pulled.body
    user = pulled.external_userid
    if not user:
        return None
    base: dict[str, Any] = {"open_kfid": pulled.open_kfid, "kf": True}
    at = _at(body, now)

    def kf_event(name: str, chat_id: str | None, data: dict[str, Any]) -> Event:
        # What the bot reacts to without a command: entering the session, a tap, a message it cannot read.
        return Event(
            kind="event", source="kf", user_id=user, chat_id=chat_id, at=at, name=name, msg_id=pulled.msgid, data=data
        )

    msgtype = str(body.get("msgtype") or "")
    if msgtype == "event":
        event = _block(body, "event")
        if event.get("event_type") != "enter_session":
            return None  # recalls, servicer changes, failures: nothing to answer
        chat_id = group_of_scene(config, str(event.get("scene_param") or "")) or _remembered(session, config, user)
        data = {
            **base,
            "welcome_code": str(event.get("welcome_code") or "")[:160] or None,
            "scene_param": str(event.get("scene_param") or "")[:128],
        }
        return kf_event(ENTER_SESSION, chat_id, data)
    if body.get("origin") != ORIGIN_CUSTOMER:
        return None  # a servicer's own message or the bot's echo
    data = {**base, "customer_message": True}
    chat_id, ask = _group_for_message(session, config, user)
    if msgtype != "text":
        return kf_event(UNSUPPORTED, chat_id, {**data, "msgtype": msgtype[:32]})
    text_block = _block(body, "text")
    content = str(text_block.get("content") or "")[:TEXT_MAX]
    menu_id = str(text_block.get("menu_id") or "")
    if menu_id.startswith(GROUP_CHOICE_PREFIX):
        chosen = group_of_scene(config, menu_id.removeprefix(GROUP_CHOICE_PREFIX))
        return kf_event(CHOOSE_GROUP, chosen, data)
    if menu_id:
        item = KF_SECTION.of(config).item(menu_id)
        if item is None:
            return kf_event(MENU_GONE, chat_id, data)
        content = item.command
    if ask:
        return kf_event(ASK_GROUP, None, {**data, "choices": ask})
    return Event(
        kind="text", source="kf", user_id=user, chat_id=chat_id, at=at, text=content, msg_id=pulled.msgid, data=data
    )


def _block(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    return value if isinstance(value, dict) else {}


def _remembered(session: Session, config: Config, user: str) -> str | None:
    row = kf_rows.customer(session, user)
    return _configured_customer_group(config, row.chat_id if row else None)


def _group_for_message(session: Session, config: Config, user: str) -> tuple[str | None, list[str]]:
    """(the group, or None) and, when the customer must pick, the groups to pick from."""
    remembered = _remembered(session, config, user)
    if remembered:
        return remembered, []
    groups = customer_groups(session, config, user)
    if len(groups) == 1:
        return groups[0], []
    if len(groups) > 1:
        return None, groups
    return None, []  # in no known group: commands still work, counted for no group
