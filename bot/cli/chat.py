"""`groupbot chat`: a group conversation in the terminal through the real router and database."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime

import click

from bot.cli.common import config_option, services_or_exit
from bot.events import Event
from bot.services import Services
from bot.transports.wecom import quiet_until
from models.membership import set_display_name
from models.outbox import OutboxMessage, last_row_id, queued_after

PROMPT_HELP = (
    "输入消息与机器人对话。/user 名字 切换发言人，/join 名字… 演练新成员入群，/dm 切到私聊，"
    "/group [群ID] 回到群聊，/quit 退出。"
)


def _row_line(services: Services, row: OutboxMessage, now: datetime) -> str:
    """Say truthfully what happens to a queued row: when it leaves, and by which route."""
    config = services.config()
    content = row.payload.get("content", "")
    group = config.group(row.target) if row.target_kind == "chat" else None
    if group is not None and group.kind == "customer":
        # WeCom lets no bot post in a customer group: it goes out as a task the guide confirms
        # (add_msg_template), or through the guide's sidebar / kf routes where those are set up.
        route = f"客户群任务，需导购 {group.guide or '（未配置）'} 在企业微信确认后发出"
    else:
        route = f"via {row.channel}"
    when = row.next_attempt_at
    quiet = quiet_until(config.outbound.quiet_hours, now, config.zone) if row.payload.get("purpose") == "push" else None
    if when > now or quiet is not None:
        at = max(when, quiet or when).astimezone(config.zone).strftime("%H:%M")
        state = f"已排队，{at} 发出"
    else:
        state = "待发送"
    return f"({state} #{row.id} {route}) → {row.target}: {content}"


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
            user = words[1]
            role = services.config().roles.role_of(user)
            write(f"(现在以 {user} 的身份发言，角色：{role})")
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
        event = Event(
            kind="text",
            source="console",
            user_id=user,
            chat_id=group,
            at=services.clock.now(),
            text=line,
            msg_id=uuid.uuid4().hex,
        )
        _feed(services, event, write)


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
            write(_row_line(services, row, now))


@click.command()
@config_option
@click.option("--group", default="rehearsal-group", show_default=True, help="Chat id of the rehearsed group.")
@click.option("--user", default="rehearsal-member", show_default=True, help="WeCom userid you speak as.")
def chat(config_path: str, group: str, user: str) -> None:
    """Talk to the bot in the terminal, through the same router and database."""
    services = services_or_exit(config_path)
    run_chat(services, group=group or None, user=user, lines=sys.stdin, write=click.echo)
