"""`groupbot chat`: a group conversation in the terminal through the real router and database."""

from __future__ import annotations

import hashlib
import sys
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime

import click
from sqlalchemy.orm import Session

from bot.cli.common import config_option, services_or_exit
from bot.events import Event
from bot.outbox import CHANNEL_AIBOT_RESPONSE, CHANNEL_APP_MESSAGE, CHANNEL_KF
from bot.services import Services
from bot.transports.wecom import quiet_until
from models.membership import display_names, set_display_name
from models.outbox import OutboxMessage, last_row_id, queued_after

PROMPT_HELP = (
    "输入消息与机器人对话。/user 名字 切换发言人，/customer 名字 演练微信客户在微信客服里发言，"
    "/join 名字… 演练新成员入群，/dm 切到私聊，/group [群ID] 回到群聊，/quit 退出。"
)


# How a group's push transport leaves, as the guide reads it (internal groups: the bot posts itself).
PUSH_ROUTES = {
    "webhook": "群机器人（webhook）发到群里",
    "appchat": "应用群聊消息发到群里",
    "aibot": "智能机器人发到群里",
    "console": "只打印在服务日志里，不会发到群里",
}
# A rehearsed WeChat customer gets a stable, obviously made-up external userid (WeChat customers' start with wm).
CUSTOMER_ID_PREFIX = "wmrehearsal"


def _minutes(value: float) -> str:
    return f"{value:g}"


def _route(services: Services, session: Session, row: OutboxMessage) -> str:
    """Say by which route a row leaves, from the config, as the guide would put it (no customer ids)."""
    config = services.config()
    if row.channel == CHANNEL_KF:
        # 微信客服: only within 48 hours of the customer's last message, at most 5 replies until they write again
        # (https://developer.work.weixin.qq.com/document/path/94677).
        return "微信客服发给客户（客户最后发言后 48 小时内，最多 5 条）"
    if row.channel == CHANNEL_AIBOT_RESPONSE:
        return "智能机器人回复这条消息"
    if row.channel == CHANNEL_APP_MESSAGE:
        name = display_names(session, [row.target], stand_in="客户")[row.target]
        return f"应用消息发给 {name}"
    group = config.group(row.target)
    if group is None:
        return "未配置的群，发不出去（请在配置的 groups 里加上它）"
    if group.kind != "customer":
        return PUSH_ROUTES.get(group.push, group.push)
    if group.push != "customer_task":
        return PUSH_ROUTES["console"]
    # WeCom lets no bot post in a customer group: the guide sends it, from the chat-toolbar page (sidebar)
    # with one tap, or confirms a customer task (add_msg_template); `delivery` chooses.
    guide = group.guide or "（未配置导购）"
    if group.delivery == "sidebar":
        return f"客户群内容，在导购 {guide} 的侧边栏等 TA 一键发出"
    if group.delivery == "sidebar_then_task":
        grace = _minutes(config.web.sidebar_grace_minutes)
        return f"先在导购 {guide} 的侧边栏等 TA 发出，{grace} 分钟内未发则转为客户群任务，需 TA 确认"
    return f"客户群任务，需导购 {guide} 在企业微信确认后发出"


def _row_line(services: Services, session: Session, row: OutboxMessage, now: datetime) -> str:
    """Say truthfully what happens to a queued row: when it leaves, to whom, and by which route."""
    config = services.config()
    content = row.payload.get("content", "")
    when = row.next_attempt_at
    quiet = quiet_until(config.outbound.quiet_hours, now, config.zone) if row.payload.get("purpose") == "push" else None
    if when > now or quiet is not None:
        at = max(when, quiet or when).astimezone(config.zone).strftime("%H:%M")
        state = f"已排队，{at} 发出"
    else:
        state = "待发送"
    if row.target_kind == "chat":
        group = config.group(row.target)
        target = group.name if group is not None else row.target
    else:
        target = display_names(session, [row.target], stand_in="客户")[row.target]
    return f"({state} #{row.id} {_route(services, session, row)}) → {target}: {content}"


def run_chat(
    services: Services,
    *,
    group: str | None,
    user: str,
    lines: Iterable[str],
    write: Callable[[str], None],
) -> None:
    """Feed each line to the dispatcher as `user` in `group` and print what the bot would say."""
    write(PROMPT_HELP)
    home = group
    # A rehearsed WeChat customer: they reach the bot only through 微信客服 (WeCom delivers no customer-group
    # chat to a bot), so their lines are kf messages and the bot's answers go back through kf.
    customer: str | None = None
    for raw in lines:
        line = raw.rstrip("\n")
        stripped = line.strip()
        if not stripped:
            continue
        if stripped in ("/quit", "/exit"):
            break
        words = stripped.split()
        if words[0] == "/user":
            if len(words) < 2:
                write("(用法：/user 名字，例如 /user guide01)")
                continue
            user, customer = words[1], None
            role = services.config().roles.role_of(user)
            write(f"(现在以 {user} 的身份发言，角色：{role})")
            continue
        if words[0] == "/customer":
            if len(words) < 2:
                write("(用法：/customer 名字，例如 /customer 小王)")
                continue
            name = " ".join(words[1:])
            user = customer = _rehearsal_customer(services, name)
            where = _group_name(services, group)
            write(f"(现在以客户「{name}」的身份在微信客服里发言{where}；客户在客户群里的发言不会到达机器人)")
            continue
        if words[0] == "/dm":
            group = None
            write(f"(现在是 {user} 与机器人的私聊)")
            continue
        if words[0] == "/group":
            group = words[1] if len(words) > 1 else home or "rehearsal-group"
            write(f"(现在在群 {group} 里发言)")
            continue
        if words[0] == "/join":
            if len(words) < 2 or group is None:
                write("(用法：在群聊里 /join 名字…，例如 /join 小王 小李)")
                continue
            _feed(services, _join_event(services, group, words[1:]), write)
            continue
        if stripped.startswith("/"):
            write(f"(不认识 {words[0]}；{PROMPT_HELP})")
            continue
        # A customer's kf message carries its 微信客服 markers, as handlers.kf.inbound builds it.
        kf = {"kf": True, "customer_message": True, "open_kfid": ""} if customer else {}
        event = Event(
            kind="text",
            source="kf" if customer else "console",
            user_id=user,
            chat_id=group,
            at=services.clock.now(),
            text=line,
            msg_id=uuid.uuid4().hex,
            data=kf,
        )
        _feed(services, event, write)


def _rehearsal_customer(services: Services, name: str) -> str:
    """The made-up external userid of the rehearsed customer `name`, remembered with that name."""
    user = CUSTOMER_ID_PREFIX + hashlib.sha256(name.encode()).hexdigest()[:12]
    with services.session_factory.begin() as session:
        set_display_name(session, user, name, services.clock.now())
    return user


def _group_name(services: Services, chat_id: str | None) -> str:
    if chat_id is None:
        return ""
    group = services.config().group(chat_id)
    return f"，所在群「{group.name}」" if group is not None else ""


def _join_event(services: Services, chat_id: str, names: list[str]) -> Event:
    """A customer-group 'members added' event as WeCom sends it, for members named `names`."""
    now = services.clock.now()
    with services.session_factory.begin() as session:
        for name in names:
            set_display_name(session, name, name, now)
    data = {"ChangeType": "update", "UpdateDetail": "add_member", "JoinScene": "1", "MemChangeList": names}
    return Event(
        kind="event",
        source="app",
        user_id=None,
        chat_id=chat_id,
        at=now,
        name="change_external_chat",
        data=data,
        msg_id=uuid.uuid4().hex,
    )


def _feed(services: Services, event: Event, write: Callable[[str], None]) -> None:
    with services.session_factory() as session:
        before = last_row_id(session)
    outcome = services.dispatcher.handle(event)
    for reply in outcome.passive:
        write(f"机器人> {reply.text}")
    # Shown, not sent: the rows stay pending for the service's drainer and its transport. Every row
    # since the line counts, since a command may queue under its own origin (a quiz result, a 截团 notice).
    now = services.clock.now()
    with services.session_factory() as session:
        for row in queued_after(session, before):
            write(_row_line(services, session, row, now))


@click.command()
@config_option
@click.option("--group", default="rehearsal-group", show_default=True, help="Chat id of the rehearsed group.")
@click.option("--user", default="rehearsal-member", show_default=True, help="WeCom userid you speak as.")
def chat(config_path: str, group: str, user: str) -> None:
    """Talk to the bot in the terminal, through the same router and database."""
    services = services_or_exit(config_path)
    run_chat(services, group=group or None, user=user, lines=sys.stdin, write=click.echo)
