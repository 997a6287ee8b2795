"""What the bot does with kf: ask for a pull on WeCom's callback, welcome, the group menu, 按钮 and 人工."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from bot.config.core import Config
from bot.context import Context, Observed
from bot.events import Event
from bot.registry import command, observer, on_event
from bot.replies import Reply
from handlers.kf.config import GROUP_CHOICE_PREFIX, KF_SECTION, scene_param
from handlers.kf.inbound import ASK_GROUP, CHOOSE_GROUP, ENTER_SESSION, MENU_GONE, UNSUPPORTED, customer_groups
from models import kf as kf_rows
from models.membership import display_names, guide_of

log = logging.getLogger(__name__)
# WeCom: the callback's Token is at most 128 bytes, open_kfid at most 64 (kf/sync_msg's limits).
TOKEN_MAX, OPEN_KFID_MAX = 128, 64


@on_event("kf_msg_or_event")
def pull_requested(ctx: Context) -> None:
    """WeCom says a kf account has news: note it (with its token) for the puller, and answer at once."""
    data = ctx.event.data
    open_kfid = str(data.get("OpenKfId") or "").strip()
    token = str(data.get("Token") or "").strip()
    if not open_kfid or len(open_kfid) > OPEN_KFID_MAX:
        log.warning("kf_msg_or_event without a usable OpenKfId ignored")
        return
    if KF_SECTION.of(ctx.config).account(open_kfid) is None:
        log.warning("kf_msg_or_event for account %s, which kf.accounts does not list; pulling it anyway", open_kfid)
    kf_rows.request_pull(ctx.session, open_kfid, token if 0 < len(token) <= TOKEN_MAX else None, ctx.now())


def main_menu(ctx: Context) -> tuple[tuple[str, str], ...]:
    return tuple((item.id, item.label) for item in KF_SECTION.of(ctx.config).menu)


def _group_name(ctx: Context, chat_id: str | None) -> str | None:
    group = ctx.config.group(chat_id) if chat_id else None
    return group.name if group is not None else None


def _open_kfid(ctx: Context) -> str:
    return str(ctx.event.data.get("open_kfid") or "")


@on_event(ENTER_SESSION)
def welcome(ctx: Context) -> Reply | None:
    """A customer opened the chat (from a group's link): remember the group, welcome them with the menu."""
    user = ctx.member.user_id
    if ctx.event.source != "kf" or not user:
        return None
    chat_id = ctx.chat.chat_id if ctx.chat else None
    code = ctx.event.data.get("welcome_code")
    kf_rows.customer_entered(
        ctx.session, user, _open_kfid(ctx), chat_id=chat_id, welcome_code=str(code) if code else None, now=ctx.now()
    )
    if not code:
        return None  # no welcome code: WeCom allows no message until the customer writes
    name = _group_name(ctx, chat_id)
    text = ctx.text("kf_welcome", group=name) if name else ctx.text("kf_welcome_no_group")
    return Reply(text, menu=main_menu(ctx))


@on_event(ASK_GROUP)
def ask_group(ctx: Context) -> Reply:
    """The customer is in several customer groups: ask which one this session is for."""
    choices = [str(c) for c in ctx.event.data.get("choices") or []]
    return Reply(ctx.text("kf_choose_group"), menu=_group_menu(ctx, choices))


def _group_menu(ctx: Context, chat_ids: list[str]) -> tuple[tuple[str, str], ...]:
    items = []
    for chat_id in chat_ids[:10]:
        name = _group_name(ctx, chat_id)
        if name:
            items.append((GROUP_CHOICE_PREFIX + scene_param(chat_id), name))
    return tuple(items)


@on_event(CHOOSE_GROUP)
def choose_group(ctx: Context) -> Reply | None:
    """The customer tapped a group: their commands count there for the rest of the session."""
    user = ctx.member.user_id
    if ctx.event.source != "kf" or not user:
        return None
    if ctx.chat is None:
        groups = customer_groups(ctx.session, ctx.config, user)
        return Reply(ctx.text("kf_group_gone"), menu=_group_menu(ctx, groups))
    kf_rows.choose_group(ctx.session, user, _open_kfid(ctx), ctx.chat.chat_id, ctx.now())
    return Reply(ctx.text("kf_group_chosen", group=_group_name(ctx, ctx.chat.chat_id)), menu=main_menu(ctx))


@on_event(MENU_GONE)
def menu_gone(ctx: Context) -> Reply:
    """A button from before a config edit: say so and show today's menu."""
    return Reply(ctx.text("kf_menu_gone"), menu=main_menu(ctx))


@on_event(UNSUPPORTED)
def unsupported(ctx: Context) -> Reply:
    """An image, voice, location …: a short hint and the menu."""
    return Reply(ctx.text("kf_unsupported"), menu=main_menu(ctx))


@command("按钮", aliases=("快捷菜单", "kfmenu"), examples=(("按钮", "这个指令只在微信客服里使用"),))
def menu(ctx: Context, args: str) -> Reply | str:
    """在微信客服里显示按钮菜单：签到、积分、团购……"""
    if ctx.event.source != "kf":
        return ctx.text("kf_only")
    return Reply(ctx.text("kf_menu"), menu=main_menu(ctx))


@command("人工", aliases=("转人工",), examples=(("人工", "这个指令只在微信客服里使用"),))
def human(ctx: Context, args: str) -> list[Reply] | str:
    """在微信客服里转接你的导购。"""
    user = ctx.member.user_id
    if ctx.event.source != "kf" or not user:
        return ctx.text("kf_only")
    chat_id = ctx.chat.chat_id if ctx.chat else None
    guide = guide_of(ctx.session, user, chat_id) if chat_id else guide_of(ctx.session, user)
    if guide is None and chat_id:
        group = ctx.config.group(chat_id)
        guide = group.guide if group else None
    if guide is None:
        return ctx.text("kf_handoff_none")
    # The transport hands the session over once this answer is out: after it, only the guide may write.
    kf_rows.ask_handoff(ctx.session, user, guide)
    name = display_names(ctx.session, [user])[user]
    guide_name = display_names(ctx.session, [guide])[guide]
    return [
        Reply(ctx.text("kf_handoff_customer", guide=guide_name if guide_name != guide else "")),
        Reply(ctx.text("kf_handoff_guide", name=name), to_user=guide),
    ]


@observer(order=5)
def customer_window(session: Session, event: Event, config: Config, now: datetime, observed: Observed) -> Observed:
    """A customer's own kf message opens their 48-hour, five-reply window again (before anything answers)."""
    if event.source == "kf" and event.user_id and event.data.get("customer_message"):
        kf_rows.customer_wrote(session, event.user_id, str(event.data.get("open_kfid") or ""), event.at, now)
    return observed
