"""Native welcome: the YAML welcome text as WeCom's 入群欢迎语 template for each customer group.

`members.welcome.mode: native`. WeCom itself greets newcomers of a customer group with the template its owner
applies, so no task (and no unit of the group's cap) is spent. `groupbot welcome sync` writes each customer
group's welcome text (its own `welcome:` or texts.welcome_default, with %NICKNAME% where the names go) with
externalcontact/group_welcome_template/add, and edits it (…/edit) when the text changed since the last sync
(https://developer.work.weixin.qq.com/document/path/92366). Applying a template to a group is the owner's step
in WeCom (客户群 → 群设置 → 入群欢迎语); the API has no call for it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from bot.config.core import Config, GroupConfig
from bot.config.fill import fill
from bot.transports.base import DeliveryError
from bot.wecom.api import WecomApi
from handlers.kf import kf_link
from models import welcome_template
from models.membership import group_name_of

ADD = "externalcontact/group_welcome_template/add"
EDIT = "externalcontact/group_welcome_template/edit"
# WeCom replaces this with each newcomer's nickname.
NICKNAME = "%NICKNAME%"
# The template text, "最长为4000个字节" (document/path/92366).
TEXT_BYTES = 4000


@dataclass(frozen=True)
class SyncLine:
    chat_id: str
    name: str
    action: str  # added, edited, unchanged, failed
    template_id: str = ""
    error: str = ""


def native_text(config: Config, group: GroupConfig, session: Session) -> str:
    """Render the welcome for WeCom's template: the names become %NICKNAME%, the rules are the group's."""
    name = group.name or group_name_of(session, group.chat_id) or group.chat_id
    rules = group.rules.format_map({"group": name}) if group.rules else config.texts.render("rules_default")
    fields = {
        "names": NICKNAME,
        "group": name,
        "rules": rules,
        "kf_link": kf_link(session, config, group.chat_id) or "",
    }
    text = fill(group.welcome, fields) if group.welcome else config.texts.render("welcome_default", **fields)
    data = text.encode("utf-8")
    if len(data) > TEXT_BYTES:
        marker = config.texts.render("outbound_cut_marker")
        text = data[: TEXT_BYTES - len(marker.encode("utf-8"))].decode("utf-8", "ignore") + marker
    return text


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def template_body(api: WecomApi, text: str) -> dict[str, object]:
    body: dict[str, object] = {"text": {"content": text}}
    if api.agent_id.isdigit():
        body["agentid"] = int(api.agent_id)
    return body


def sync_welcomes(api: WecomApi, factory: sessionmaker[Session], config: Config, now: datetime) -> list[SyncLine]:
    """Add or edit each customer group's template so it holds the current text; report what each needed."""
    lines: list[SyncLine] = []
    for group in (g for g in config.groups if g.kind == "customer"):
        with factory() as session:
            text = native_text(config, group, session)
            stored = welcome_template.find(session, group.chat_id)
        wanted = digest(text)
        if stored is not None and stored.digest == wanted:
            lines.append(SyncLine(group.chat_id, group.name, "unchanged", stored.template_id))
            continue
        try:
            if stored is None:
                answer = api.call(ADD, {**template_body(api, text), "notify": 1})
                template_id, action = str(answer["template_id"]), "added"
            else:
                api.call(EDIT, {"template_id": stored.template_id, **template_body(api, text)})
                template_id, action = stored.template_id, "edited"
        except DeliveryError as exc:
            lines.append(SyncLine(group.chat_id, group.name, "failed", error=str(exc)))
            continue
        with factory.begin() as session:
            welcome_template.store(session, group.chat_id, template_id, wanted, now)
        lines.append(SyncLine(group.chat_id, group.name, action, template_id))
    return lines


def sync_state(config: Config, factory: sessionmaker[Session]) -> list[tuple[GroupConfig, str]]:
    """Say for each customer group whether its template is missing, out of date or current (no WeCom call)."""
    states: list[tuple[GroupConfig, str]] = []
    with factory() as session:
        for group in (g for g in config.groups if g.kind == "customer"):
            stored = welcome_template.find(session, group.chat_id)
            if stored is None:
                states.append((group, "not synced"))
            elif stored.digest != digest(native_text(config, group, session)):
                states.append((group, "out of date"))
            else:
                states.append((group, f"synced as {stored.template_id}"))
    return states
