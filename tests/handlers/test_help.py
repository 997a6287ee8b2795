"""帮助 as members, guides and admins see it: only what they may use, details on request, the admin's wording."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from bot.clock import FrozenClock
from bot.context import Context
from bot.dispatch import Dispatcher
from bot.events import Event
from bot.registry import Registry
from bot.router import Router
from handlers.help import show_help
from models import OutboxMessage
from models.db import make_session_factory
from tests.conftest import base_config, count_rows, write_yaml
from tests.factories import config_loader

MEMBER, GUIDE, ADMIN = "lisi", "guide01", "boss"  # roles as base_config() assigns them
HELP_SUMMARY = "查看我能做什么，或某个指令的用法（帮助 指令名）。"


def registry_with_roles() -> Registry:
    """The shipped 帮助 beside a guide-only and an admin-only command."""
    registry = Registry()
    registry.command("帮助", aliases=["help", "?"])(show_help)

    @registry.command("开团", aliases=["open", "kt"], role="guide")
    def open_buy(ctx: Context, args: str) -> str:
        """开一个团购。"""
        return "已开团"

    @registry.command("清空", role="admin")
    def wipe(ctx: Context, args: str) -> str:
        """清空本群数据。"""
        return "已清空"

    return registry


@pytest.fixture
def helpdesk(tmp_path: Path, engine: Engine, clock: FrozenClock):  # type: ignore[no-untyped-def]
    """ask(text, user=..., **config_overrides) -> the passive reply text, through a real dispatcher."""

    def ask(text: str, *, user: str = MEMBER, **overrides: Any) -> str:
        data = base_config()
        data.update(overrides)
        path = write_yaml(tmp_path / f"config-{uuid.uuid4().hex[:6]}.yaml", data)
        registry = registry_with_roles()
        config = config_loader(registry)(path)
        dispatcher = Dispatcher(
            session_factory=make_session_factory(engine), config=lambda: config, clock=clock, router=Router(registry)
        )
        event = Event(
            kind="text",
            source="console",
            user_id=user,
            chat_id="wrgroup0001",
            at=datetime(2026, 11, 22, 2, 0, tzinfo=UTC),
            text=f"@小助手\u2005{text}",
            msg_id=uuid.uuid4().hex,
        )
        return dispatcher.handle(event).passive_text

    return ask


def command_lines(reply: str) -> list[str]:
    return [line for line in reply.splitlines() if line.startswith("· ")]


def test_help_lists_only_what_the_asker_may_use(helpdesk, engine: Engine) -> None:
    """A member sees 帮助 only, a guide also 开团, an admin also 清空."""
    member, guide, admin = (command_lines(helpdesk("帮助", user=u)) for u in (MEMBER, GUIDE, ADMIN))
    assert member == [f"· 帮助（help、?）：{HELP_SUMMARY}"]
    assert guide == [*member, "· 开团（open、kt）：开一个团购。"]
    assert admin == [*guide, "· 清空：清空本群数据。"]
    assert count_rows(engine, OutboxMessage) == 0  # console answers passively, nothing queued


def test_help_has_header_and_footer(helpdesk) -> None:
    """The list is framed by the header and the footer telling how to ask about one command."""
    lines = helpdesk("帮助").splitlines()
    assert lines[0] == "我能帮你做这些（发送指令即可）："
    assert lines[-1] == "发送「帮助 指令名」查看某个指令的用法。"


@pytest.mark.parametrize("asked", ["开团", "open", "ＯＰＥＮ", "KT"])
def test_help_detail_by_name_or_alias(helpdesk, asked: str) -> None:
    """帮助 <name or alias> shows the summary, every alias and the role name from texts."""
    assert helpdesk(f"帮助 {asked}") == "开团：开一个团购。\n别名：open、kt\n需要身份：导购"


def test_help_detail_of_command_without_aliases(helpdesk) -> None:
    """A command with no aliases says so with help_no_aliases; the admin role is named."""
    assert helpdesk("帮助 清空", user=ADMIN) == "清空：清空本群数据。\n别名：无\n需要身份：管理员"


def test_help_detail_reflects_yaml_rename_and_role(helpdesk) -> None:
    """The detail shows the renamed name, the YAML aliases and the overridden role."""
    reply = helpdesk("帮助 拼团", commands={"开团": {"name": "拼团", "aliases": ["pt"], "role": "member"}})
    assert reply == "拼团：开一个团购。\n别名：pt\n需要身份：群成员"
    assert helpdesk("帮助 open", commands={"开团": {"name": "拼团", "aliases": ["pt"]}}) == (
        "没有「open」这个指令，发送「帮助」看看我能做什么。"
    )


def test_help_unknown_name(helpdesk) -> None:
    """Asking about a command that does not exist gets help_unknown naming it."""
    assert helpdesk("帮助 抽奖") == "没有「抽奖」这个指令，发送「帮助」看看我能做什么。"


def test_help_detail_of_disabled_command_is_unknown(helpdesk) -> None:
    """A command switched off in YAML is not explained, and not listed."""
    overrides = {"commands": {"开团": {"enabled": False}}}
    assert helpdesk("帮助 开团", user=GUIDE, **overrides) == "没有「开团」这个指令，发送「帮助」看看我能做什么。"
    assert "开团" not in helpdesk("帮助", user=GUIDE, **overrides)


def test_help_texts_come_from_yaml(helpdesk) -> None:
    """Changing help_header, help_line and role names in the config changes what 帮助 shows."""
    texts = {"help_header": "📋 指令菜单", "help_line": "- {name}: {summary}", "role_guide": "团长"}
    lines = helpdesk("帮助", user=GUIDE, texts=texts).splitlines()
    assert lines[0] == "📋 指令菜单"
    assert "- 开团: 开一个团购。" in lines
    assert "我能帮你做这些" not in "\n".join(lines)
    assert helpdesk("帮助 开团", texts=texts).endswith("需要身份：团长")


def test_help_override_replaces_summary_line(helpdesk) -> None:
    """commands.帮助.help replaces the docstring summary in the list and in the detail."""
    overrides = {"commands": {"帮助": {"help": "看看我会什么"}}}
    assert command_lines(helpdesk("帮助", **overrides)) == ["· 帮助（help、?）：看看我会什么"]
    assert helpdesk("帮助 帮助", **overrides).startswith("帮助：看看我会什么\n")
    assert HELP_SUMMARY not in helpdesk("帮助", **overrides)


def test_help_with_real_registry_lists_shipped_commands(make_services, config_file: Path) -> None:
    """With the shipped handlers, a member's 帮助 lists 帮助 itself with its docstring summary."""
    services = make_services(config_file)
    event = Event(
        kind="text",
        source="console",
        user_id=MEMBER,
        chat_id=None,
        at=services.clock.now(),
        text="帮助",
        msg_id=uuid.uuid4().hex,
    )
    assert f"· 帮助（help、?）：{HELP_SUMMARY}" in services.dispatcher.handle(event).passive_text
