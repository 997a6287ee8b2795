"""Membership and activity from every event, before it is routed, in the event's own transaction."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.config.core import Config
from bot.context import Observed
from bot.events import Event
from bot.registry import observer
from models.activity import mark_active, mark_active_in
from models.membership import SYSTEM_SENDER, dismiss, join_many, leave, remember_group, remember_person, seen_in_chat

log = logging.getLogger(__name__)


def member_list(data: Mapping[str, Any]) -> list[str]:
    """Read MemChangeList as a list: wechatpy gives one member as a string and several as a list."""
    raw = data.get("MemChangeList")
    items = raw.get("Item") if isinstance(raw, Mapping) else raw
    if items is None:
        return []
    if isinstance(items, str):
        items = [items]
    return [str(item).strip() for item in items if item is not None and str(item).strip()]


def _int_or_none(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def attributed_guide(config: Config, chat_id: str, inviter: str | None) -> str | None:
    """Return the guide a new member belongs to: a staff inviter, else the group's guide."""
    if inviter and config.roles.role_of(inviter) != "member":
        return inviter
    group = config.group(chat_id)
    return group.guide if group else None


@observer(order=10)
def observe_membership(session: Session, event: Event, config: Config, now: datetime, observed: Observed) -> Observed:
    """Update membership and activity from one event.

    A text marks its sender active but is not yet counted as a message: the dispatcher counts it
    once it knows the text was chat rather than a bot command.
    """
    if event.source == "app" and event.name == "change_external_chat" and event.chat_id:
        return _external_chat_change(session, event, config)
    user = event.user_id
    if not user or user == SYSTEM_SENDER:
        return observed
    remember_person(session, user, now)
    if event.chat_id:
        guide = attributed_guide(config, event.chat_id, None)
        seen_in_chat(session, chat_id=event.chat_id, user_id=user, at=event.at, guide=guide)
        moved = mark_active(session, chat_id=event.chat_id, user_id=user, at=event.at)
        return replace(observed, active_in=(event.chat_id,) if moved else ())
    if event.kind == "text":
        # No bot hears a customer group, so its members use the bot 1:1 (签到 …): that is the only
        # activity of theirs the bot can see, and it keeps them off the reactivation ladder there.
        unheard = [group.chat_id for group in config.groups if group.kind == "customer"]
        return replace(observed, active_in=tuple(mark_active_in(session, chat_ids=unheard, user_id=user, at=event.at)))
    return observed


def _external_chat_change(session: Session, event: Event, config: Config) -> Observed:
    data, chat_id, at = event.data, str(event.chat_id), event.at
    change = str(data.get("ChangeType") or "").strip()
    detail = str(data.get("UpdateDetail") or "").strip()
    remember_group(session, chat_id, at)
    if change == "create":
        return Observed(detail="create")
    if change == "dismiss":
        return Observed(dismissed=dismiss(session, chat_id=chat_id, at=at), detail="dismiss")
    if change != "update":
        log.warning("change_external_chat with unknown ChangeType %r in %s ignored", change, chat_id)
        return Observed()
    users = member_list(data)
    if detail == "add_member":
        scene = _int_or_none(data.get("JoinScene"))
        guide = attributed_guide(config, chat_id, None)
        joined = tuple(join_many(session, chat_id=chat_id, user_ids=users, at=at, guide=guide, join_scene=scene))
        return Observed(joined=joined, detail=detail)
    if detail == "del_member":
        scene = _int_or_none(data.get("QuitScene"))
        left = tuple(user for user in users if leave(session, chat_id=chat_id, user_id=user, at=at, quit_scene=scene))
        return Observed(left=left, detail=detail)
    if detail in ("change_owner", "change_name", "change_notice"):
        # The callback names no new owner, name or notice; only groupchat/get tells, so nothing to store yet.
        log.info("change_external_chat %s in %s noted", detail, chat_id)
        return Observed(detail=detail)
    log.warning("change_external_chat with unknown UpdateDetail %r in %s ignored", detail, chat_id)
    return Observed()
