"""The router as a member, guide or admin experiences it: command words, mentions, roles, free text, events."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.clock import FrozenClock
from bot.context import Context
from bot.dispatch import Dispatcher, Outcome
from bot.events import Event
from bot.registry import Registry
from bot.replies import Reply
from bot.router import Router
from bot.services import Services
from handlers.help import show_help
from handlers.keywords import keyword_reply
from models import OutboxMessage, ProcessedEvent
from models.db import make_session_factory
from tests.conftest import base_config, count_rows, write_yaml
from tests.factories import config_loader

HELP_HEADER = "我能帮你做这些（发送指令即可）："
MEMBER, GUIDE, ADMIN = "lisi", "guide01", "boss"  # roles as base_config() assigns them
_AT = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


# --- helpers -------------------------------------------------------------------------------------


def text_event(
    text: str, *, user: str | None = MEMBER, chat: str | None = "wrgroup0001", source: str = "console"
) -> Event:
    """A chat line as any adapter would normalise it; a fresh msg_id so it is never a duplicate."""
    return Event(kind="text", source=source, user_id=user, chat_id=chat, at=_AT, text=text, msg_id=uuid.uuid4().hex)


def wecom_event(name: str, *, user: str | None = MEMBER, chat: str | None = "wrgroup0001", **data: Any) -> Event:
    """A WeCom event (no MsgId): only @on_event handlers may react to it."""
    return Event(
        kind="event", source="aibot", user_id=user, chat_id=chat, at=_AT, name=name, data={"name": name, **data}
    )


def write_config(tmp_path: Path, **overrides: Any) -> Path:
    """A config file like base_config() with some top-level sections replaced."""
    data = base_config()
    data.update(overrides)
    return write_yaml(tmp_path / f"config-{uuid.uuid4().hex[:6]}.yaml", data)


def wire(registry: Registry, config_path: Path, engine: Engine, clock: FrozenClock) -> Dispatcher:
    """A dispatcher over a test registry, its config loaded (and checked) the way the service loads it."""
    config = config_loader(registry)(config_path)
    return Dispatcher(
        session_factory=make_session_factory(engine), config=lambda: config, clock=clock, router=Router(registry)
    )


class Calls:
    """Records which handlers ran, in order, so a test can prove one did or did not run."""

    def __init__(self) -> None:
        self.log: list[str] = []


def role_registry(calls: Calls) -> Registry:
    """帮助 plus a guide-only and an admin-only command, and the keyword auto-reply."""
    registry = Registry()
    registry.command("帮助", aliases=["help", "?"])(show_help)

    @registry.command("开团", aliases=["open"], role="guide", examples=[("开团 苹果", "已开团")])
    def open_buy(ctx: Context, args: str) -> str:
        """开一个团购。"""
        calls.log.append("开团")
        return f"已开团：{args}"

    @registry.command("清空", role="admin", examples=[("清空", "已清空")])
    def wipe(ctx: Context, args: str) -> str:
        """清空本群数据。"""
        calls.log.append("清空")
        return "已清空"

    registry.on_text(priority=900)(keyword_reply)
    return registry


@pytest.fixture
def real(make_services: Callable[..., Services], tmp_path: Path) -> Callable[..., Services]:
    """Services over the shipped handlers with a config built from base_config() plus overrides."""

    def build(**overrides: Any) -> Services:
        return make_services(write_config(tmp_path, **overrides))

    return build


def ask(services: Services, text: str, **kw: Any) -> Outcome:
    return services.dispatcher.handle(text_event(text, **kw))


# --- mentions and command words ------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "@小助手\u2005帮助",  # what WeCom really sends: U+2005 after the mention
        "@小助手\u3000帮助",  # full-width space typed on a Chinese keyboard
        "@小助手 帮助",
        "  @小助手\u2005@另一个人\u2005帮助",  # several leading mentions
        "帮助",  # 1:1 chats carry no mention at all
    ],
)
def test_leading_mention_is_stripped_before_matching(real, line: str) -> None:
    """However WeCom or the user spaces the @mention, the command after it is recognised."""
    outcome = ask(real(), line, source="aibot")
    assert outcome.passive_text.startswith(HELP_HEADER)
    assert "没听懂" not in outcome.passive_text


def test_mention_alone_gets_the_greeting(real) -> None:
    """An @mention with nothing after it gets the empty_message text, not an 'unknown command' hint."""
    outcome = ask(real(), "@小助手\u2005", source="aibot")
    assert outcome.passive_text == "在的！发送「帮助」看看我能做什么。"


@pytest.mark.parametrize("word", ["帮助", "help", "HELP", "Help", "ＨＥＬＰ", "ｈｅｌｐ", "?", "？"])
def test_command_words_ignore_case_and_width(real, word: str) -> None:
    """帮助 answers to its name and aliases in any case and in full-width characters."""
    outcome = ask(real(), f"@小助手\u2005{word}")
    assert outcome.passive_text.startswith(HELP_HEADER)


def test_command_word_must_be_the_first_word(real) -> None:
    """A command name in the middle of a sentence is not a command."""
    outcome = ask(real(), "请问帮助在哪")
    assert outcome.passive_text == "没听懂「请问帮助在哪」。发送「帮助」查看可用指令。"


def test_renamed_command_answers_to_new_name_only(real) -> None:
    """commands: {帮助: {name: 菜单}} makes 菜单 the command; the old name is no longer one."""
    services = real(commands={"帮助": {"name": "菜单"}})
    assert ask(services, "菜单").passive_text.startswith(HELP_HEADER)
    assert ask(services, "help").passive_text.startswith(HELP_HEADER)  # built-in aliases are kept
    assert ask(services, "帮助").passive_text.startswith("没听懂「帮助」")


def test_renamed_command_keeps_old_name_when_listed_as_alias(real) -> None:
    """Listing the old name under aliases keeps it working; the replaced alias list drops the others."""
    services = real(commands={"帮助": {"name": "菜单", "aliases": ["帮助"]}})
    assert ask(services, "菜单").passive_text.startswith(HELP_HEADER)
    assert ask(services, "帮助").passive_text.startswith(HELP_HEADER)
    assert ask(services, "help").passive_text.startswith("没听懂「help」")


def test_full_width_alias_from_yaml_matches_like_built_in_words(real) -> None:
    """An alias the admin typed in full width answers to the half-width word too, as built-in words do."""
    services = real(commands={"帮助": {"aliases": ["ＭＥＮＵ"]}})
    assert ask(services, "menu").passive_text.startswith(HELP_HEADER)
    assert ask(services, "ＭＥＮＵ").passive_text.startswith(HELP_HEADER)


def test_disabled_command_is_unknown(real, engine: Engine) -> None:
    """enabled: false removes the command: its name and aliases get the unknown-command hint."""
    services = real(commands={"帮助": {"enabled": False}})
    assert ask(services, "帮助").passive_text == "没听懂「帮助」。发送「帮助」查看可用指令。"
    assert ask(services, "help").passive_text == "没听懂「help」。发送「帮助」查看可用指令。"
    assert count_rows(engine, OutboxMessage) == 0


# --- roles ---------------------------------------------------------------------------------------


def test_member_is_refused_guide_and_admin_commands(tmp_path: Path, engine: Engine, clock: FrozenClock) -> None:
    """A member gets permission_denied naming the command and the role; the handler never runs, nothing is queued."""
    calls = Calls()
    dispatcher = wire(role_registry(calls), write_config(tmp_path), engine, clock)

    assert dispatcher.handle(text_event("开团 苹果")).passive_text == "「开团」只有导购可以使用。"
    assert dispatcher.handle(text_event("清空")).passive_text == "「清空」只有管理员可以使用。"
    assert dispatcher.handle(text_event("清空", user=GUIDE)).passive_text == "「清空」只有管理员可以使用。"
    assert calls.log == []
    assert count_rows(engine, OutboxMessage) == 0
    assert count_rows(engine, ProcessedEvent) == 3  # the refusals are still recorded, so a retry is not re-run


def test_guide_and_admin_may_use_their_commands(tmp_path: Path, engine: Engine, clock: FrozenClock) -> None:
    """A guide can 开团 (by name or alias); an admin can do everything a guide can, and 清空."""
    calls = Calls()
    dispatcher = wire(role_registry(calls), write_config(tmp_path), engine, clock)

    assert dispatcher.handle(text_event("开团 苹果", user=GUIDE)).passive_text == "已开团：苹果"
    assert dispatcher.handle(text_event("OPEN\u3000梨", user=ADMIN)).passive_text == "已开团：梨"
    assert dispatcher.handle(text_event("清空", user=ADMIN)).passive_text == "已清空"
    assert calls.log == ["开团", "开团", "清空"]


def test_refusal_uses_role_names_from_yaml(tmp_path: Path, engine: Engine, clock: FrozenClock) -> None:
    """The role name in the refusal is the admin's wording, not a hard-coded one."""
    config = write_config(tmp_path, texts={"role_guide": "团长", "permission_denied": "{command}仅限{role}"})
    dispatcher = wire(role_registry(Calls()), config, engine, clock)
    assert dispatcher.handle(text_event("开团")).passive_text == "开团仅限团长"


def test_refusal_names_the_renamed_command(tmp_path: Path, engine: Engine, clock: FrozenClock) -> None:
    """After a rename the refusal speaks of the name members actually type."""
    config = write_config(tmp_path, commands={"开团": {"name": "拼团"}})
    dispatcher = wire(role_registry(Calls()), config, engine, clock)
    assert dispatcher.handle(text_event("拼团")).passive_text == "「拼团」只有导购可以使用。"


def test_yaml_role_override_lowers_the_requirement(tmp_path: Path, engine: Engine, clock: FrozenClock) -> None:
    """commands: {开团: {role: member}} lets a plain member open a group-buy."""
    calls = Calls()
    config = write_config(tmp_path, commands={"开团": {"role": "member"}})
    dispatcher = wire(role_registry(calls), config, engine, clock)
    assert dispatcher.handle(text_event("开团 苹果")).passive_text == "已开团：苹果"
    assert calls.log == ["开团"]


def test_yaml_role_override_raises_the_requirement(tmp_path: Path, engine: Engine, clock: FrozenClock) -> None:
    """commands: {开团: {role: admin}} refuses the guide that could use it before."""
    calls = Calls()
    config = write_config(tmp_path, commands={"开团": {"role": "admin"}})
    dispatcher = wire(role_registry(calls), config, engine, clock)
    assert dispatcher.handle(text_event("开团", user=GUIDE)).passive_text == "「开团」只有管理员可以使用。"
    assert dispatcher.handle(text_event("开团", user=ADMIN)).passive_text == "已开团："
    assert calls.log == ["开团"]


def test_refusal_on_app_channel_is_queued_to_the_sender(tmp_path: Path, engine: Engine, clock: FrozenClock) -> None:
    """On the app channel (no passive answer) the refusal goes to the outbox, addressed to the sender."""
    dispatcher = wire(role_registry(Calls()), write_config(tmp_path), engine, clock)
    outcome = dispatcher.handle(text_event("开团", user="zhangsan", chat=None, source="app"))
    assert outcome.passive == [] and outcome.queued == 1
    with Session(engine) as session:
        (row,) = session.query(OutboxMessage).all()
    assert (row.target_kind, row.target, row.status) == ("user", "zhangsan", "pending")
    assert row.payload["content"] == "「开团」只有导购可以使用。"


def test_late_aibot_answer_goes_to_response_url_not_the_http_answer(
    tmp_path: Path, engine: Engine, clock: FrozenClock
) -> None:
    """A reply marked via_response_url leaves through the outbox to the event's response_url; the rest answer now."""
    registry = Registry()

    @registry.command("查单")
    def look_up(ctx: Context, args: str) -> list[Reply]:
        """查订单。"""
        return [Reply("正在查询，请稍候"), Reply("订单已发货", via_response_url=True)]

    dispatcher = wire(registry, write_config(tmp_path), engine, clock)
    event = Event(
        kind="text",
        source="aibot",
        user_id=MEMBER,
        chat_id="wrgroup0001",
        at=_AT,
        text="查单",
        msg_id=uuid.uuid4().hex,
        response_url="http://127.0.0.1:9/aibot/response?code=x",
    )
    outcome = dispatcher.handle(event)
    assert outcome.passive_text == "正在查询，请稍候"
    assert outcome.queued == 1
    with Session(engine) as session:
        (row,) = session.query(OutboxMessage).all()
    assert row.channel == "aibot_response"
    assert row.payload["content"] == "订单已发货"
    assert row.payload["response_url"] == event.response_url


# --- free text handlers ----------------------------------------------------------------------------


def text_registry(calls: Calls, *, claim_at: int | None) -> Registry:
    """Free-text handlers registered out of priority order; the one at `claim_at` answers, the others pass."""
    registry = Registry()
    registry.command("帮助", aliases=["help", "?"])(show_help)

    def make(priority: int) -> Callable[[Context, str], str | None]:
        def handler(ctx: Context, text: str) -> str | None:
            calls.log.append(f"p{priority}")
            return f"p{priority} 收到：{text}" if priority == claim_at else None

        return handler

    for priority in (500, 10, 100):
        registry.on_text(priority=priority)(make(priority))
    registry.on_text(priority=900)(keyword_reply)
    return registry


def test_text_handlers_run_in_priority_order_and_none_passes_on(
    tmp_path: Path, engine: Engine, clock: FrozenClock
) -> None:
    """Lower priority runs first; a handler returning None lets the next one answer; later ones never run."""
    calls = Calls()
    dispatcher = wire(text_registry(calls, claim_at=100), write_config(tmp_path), engine, clock)
    assert dispatcher.handle(text_event("@小助手\u2005我猜是B")).passive_text == "p100 收到：我猜是B"
    assert calls.log == ["p10", "p100"]


def test_text_handlers_run_before_keywords(tmp_path: Path, engine: Engine, clock: FrozenClock) -> None:
    """Text a quiz-like handler claims is not answered by a matching keyword rule."""
    calls = Calls()
    dispatcher = wire(text_registry(calls, claim_at=500), write_config(tmp_path), engine, clock)
    assert dispatcher.handle(text_event("快递到哪了")).passive_text == "p500 收到：快递到哪了"


def test_keywords_answer_when_every_handler_passes(tmp_path: Path, engine: Engine, clock: FrozenClock) -> None:
    """When no free-text handler claims the text, the keyword auto-reply answers."""
    calls = Calls()
    dispatcher = wire(text_registry(calls, claim_at=None), write_config(tmp_path), engine, clock)
    assert dispatcher.handle(text_event("快递到哪了")).passive_text == "48小时内发货"
    assert calls.log == ["p10", "p100", "p500"]


def test_commands_are_matched_before_text_handlers(tmp_path: Path, engine: Engine, clock: FrozenClock) -> None:
    """A command word never reaches the free-text handlers."""
    calls = Calls()
    dispatcher = wire(text_registry(calls, claim_at=10), write_config(tmp_path), engine, clock)
    assert dispatcher.handle(text_event("帮助")).passive_text.startswith(HELP_HEADER)
    assert calls.log == []


@pytest.mark.parametrize("bad", [42, 3.5, object()])
def test_handler_returning_unsupported_type_raises_and_stores_nothing(
    tmp_path: Path, engine: Engine, clock: FrozenClock, bad: object
) -> None:
    """A handler bug (returning e.g. an int) raises TypeError; the event is not recorded as handled."""
    registry = Registry()

    @registry.command("坏了")
    def broken(ctx: Context, args: str) -> object:
        """总是返回错误的类型。"""
        return bad

    dispatcher = wire(registry, write_config(tmp_path), engine, clock)
    with pytest.raises(TypeError):
        dispatcher.handle(text_event("坏了", source="app", chat=None))
    # Rolled back: WeCom's retry will run the handler again instead of being swallowed as a duplicate.
    assert count_rows(engine, ProcessedEvent) == 0
    assert count_rows(engine, OutboxMessage) == 0


# --- events ----------------------------------------------------------------------------------------


def test_events_reach_only_event_handlers(tmp_path: Path, engine: Engine, clock: FrozenClock) -> None:
    """A WeCom event runs the @on_event handlers for its name, never commands or free-text handlers."""
    calls = Calls()
    registry = text_registry(calls, claim_at=10)

    @registry.on_event("add_member")
    def welcome(ctx: Context) -> str:
        calls.log.append("welcome")
        return f"欢迎 {ctx.event.data['who']}"

    @registry.on_event("add_member")
    def note(ctx: Context) -> None:
        calls.log.append("note")

    dispatcher = wire(registry, write_config(tmp_path), engine, clock)
    outcome = dispatcher.handle(wecom_event("add_member", who="小王"))
    assert outcome.passive_text == "欢迎 小王"
    assert calls.log == ["welcome", "note"]

    # An event whose name matches no handler says nothing; text handlers are not consulted.
    calls.log.clear()
    silent = dispatcher.handle(wecom_event("del_member", who="小王"))
    assert silent.passive == [] and silent.queued == 0
    assert calls.log == []


def test_text_named_like_an_event_does_not_run_event_handlers(
    tmp_path: Path, engine: Engine, clock: FrozenClock
) -> None:
    """Typing an event's name in chat is plain text, not the event."""
    calls = Calls()
    registry = Registry()

    @registry.on_event("add_member")
    def welcome(ctx: Context) -> str:
        calls.log.append("welcome")
        return "欢迎"

    dispatcher = wire(registry, write_config(tmp_path), engine, clock)
    outcome = dispatcher.handle(text_event("add_member"))
    assert outcome.passive_text == "没听懂「add_member」。发送「帮助」查看可用指令。"
    assert calls.log == []


# --- unknown text ----------------------------------------------------------------------------------


def test_unknown_text_is_echoed_truncated(real, engine: Engine) -> None:
    """Text nothing matches gets the hint with at most 20 characters of it and an ellipsis."""
    services = real()
    long_text = "这是一句很长很长的话用来确认机器人只回显前二十个字而不是全部内容"
    outcome = ask(services, f"@小助手\u2005{long_text}")
    assert outcome.passive_text == f"没听懂「{long_text[:20]}…」。发送「帮助」查看可用指令。"
    assert long_text[:21] not in outcome.passive_text
    assert count_rows(engine, OutboxMessage) == 0


def test_unknown_text_of_exactly_twenty_chars_is_not_cut(real) -> None:
    """Twenty characters are shown whole, without an ellipsis."""
    text = "一二三四五六七八九十一二三四五六七八九十"
    assert len(text) == 20
    assert ask(real(), text).passive_text == f"没听懂「{text}」。发送「帮助」查看可用指令。"


def test_unknown_command_text_comes_from_yaml(real) -> None:
    """The hint is the admin's sentence from texts.unknown_command."""
    services = real(texts={"unknown_command": "不懂「{text}」，发「菜单」试试"})
    assert ask(services, "你好").passive_text == "不懂「你好」，发「菜单」试试"
