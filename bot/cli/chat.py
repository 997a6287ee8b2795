"""`groupbot chat`: a group conversation in the terminal through the real router and database."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterable

import click

from bot.cli.common import config_option, services_or_exit
from bot.events import Event
from bot.services import Services
from models.outbox import last_row_id, queued_after

PROMPT_HELP = "输入消息与机器人对话；/user 名字 切换发言人，/quit 退出。"


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
    for raw in lines:
        line = raw.rstrip("\n")
        if not line.strip():
            continue
        if line.strip() in ("/quit", "/exit"):
            break
        if line.startswith("/user "):
            user = line.split(maxsplit=1)[1].strip()
            role = services.config().roles.role_of(user)
            write(f"(现在以 {user} 的身份发言，角色：{role})")
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
        with services.session_factory() as session:
            before = last_row_id(session)
        outcome = services.dispatcher.handle(event)
        for reply in outcome.passive:
            write(f"机器人> {reply.text}")
        # Shown, not sent: the rows stay pending for the service's drainer and its transport. Every row
        # since the line counts, since a command may queue under its own origin (a quiz result, a 截团 notice).
        with services.session_factory() as session:
            for row in queued_after(session, before):
                write(f"(待发送 #{row.id} via {row.channel}) → {row.target}: {row.payload.get('content', '')}")


@click.command()
@config_option
@click.option("--group", default="rehearsal-group", show_default=True, help="Chat id of the rehearsed group.")
@click.option("--user", default="rehearsal-member", show_default=True, help="WeCom userid you speak as.")
def chat(config_path: str, group: str, user: str) -> None:
    """Talk to the bot in the terminal, through the same router and database."""
    services = services_or_exit(config_path)
    run_chat(services, group=group or None, user=user, lines=sys.stdin, write=click.echo)
