"""Each customer group's kf link: kf/add_contact_way's URL with the group's scene_param appended.

kf/add_contact_way (https://developer.work.weixin.qq.com/document/path/94665) returns a link for an
account and a scene; a `scene_param` appended to it comes back in the enter_session event, so a
link per customer group tells the bot which group a customer came from.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from sqlalchemy.orm import Session

from bot.config.core import Config
from bot.wecom.api import WecomApi
from handlers.kf.config import KF_SECTION, scene_param
from models import kf as kf_rows


def kf_link(session: Session, config: Config, chat_id: str | None) -> str | None:
    """The cached kf link of the customer group `chat_id`, or None (not a kf group, or no link made yet)."""
    if not chat_id or not KF_SECTION.of(config).enabled:
        return None
    group = config.group(chat_id)
    if group is None or group.kind != "customer":
        return None
    return kf_rows.cached_link(session, chat_id)


def member_links(session: Session, config: Config, chat_id: str) -> list[tuple[str, str]]:
    """What the guide's 1:1 sidebar offers to send a customer: the group's kf link, once one was made."""
    link = kf_link(session, config, chat_id)
    group = config.group(chat_id)
    if link is None or group is None:
        return []
    return [(config.texts.render("kf_link_label", group=group.name), link)]


def with_scene_param(url: str, chat_id: str) -> str:
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}scene_param={quote(scene_param(chat_id))}"


def make_link(session: Session, api: WecomApi, config: Config, chat_id: str, now: datetime) -> str:
    """Ask WeCom for the account's link with kf.link_scene, append the group's scene_param, cache it."""
    settings = KF_SECTION.of(config)
    account = settings.account()
    if account is None:
        raise ValueError("kf.accounts is empty: add the 微信客服 account (open_kfid, name) first")
    answer = api.call("kf/add_contact_way", {"open_kfid": account.open_kfid, "scene": settings.link_scene})
    url = str(answer.get("url") or "")
    if not url:
        raise ValueError("kf/add_contact_way answered without a url")
    link = with_scene_param(url, chat_id)
    kf_rows.cache_link(session, chat_id, account.open_kfid, link, now)
    return link
