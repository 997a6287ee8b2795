"""Keyword auto-replies from the YAML, as members see them in chat."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.events import Event
from bot.services import Services
from models import OutboxMessage
from tests.conftest import base_config, count_rows, write_yaml

UNKNOWN = "没听懂「{}」。发送「帮助」查看可用指令。"


@pytest.fixture
def chat(make_services: Callable[..., Services], tmp_path: Path) -> Callable[..., Callable[..., str]]:
    """chat(keywords, **config) -> say(text, source=...) giving the bot's passive reply, shipped handlers."""

    def build(keywords: list[dict[str, Any]], **overrides: Any) -> Callable[..., str]:
        data = {**base_config(), "keywords": keywords, **overrides}
        services = make_services(write_yaml(tmp_path / f"config-{uuid.uuid4().hex[:6]}.yaml", data))

        def say(text: str, *, source: str = "console", user: str = "lisi") -> str:
            event = Event(
                kind="text",
                source=source,  # type: ignore[arg-type]
                user_id=user,
                chat_id=None if source == "app" else "wrgroup0001",
                at=services.clock.now(),
                text=f"@小助手\u2005{text}" if source != "app" else text,
                msg_id=uuid.uuid4().hex,
            )
            return services.dispatcher.handle(event).passive_text

        return say

    return build


SHIPPING = {"match": ["发货", "快递"], "reply": "48小时内发货"}
RULES = {"match": ["文明公约"], "mode": "exact", "reply": "请文明交流"}


@pytest.mark.parametrize("text", ["发货", "什么时候发货呀", "我的快递到哪了"])
def test_contains_rule_matches_inside_a_sentence(chat, text: str) -> None:
    """A contains rule (the default) answers when any of its words appears anywhere in the text."""
    assert chat([SHIPPING])(text) == "48小时内发货"


def test_exact_rule_needs_the_whole_text(chat) -> None:
    """An exact rule answers the bare word (after the @mention) but not a sentence containing it."""
    say = chat([RULES])
    assert say("文明公约") == "请文明交流"
    assert say(" 文明公约\u3000") == "请文明交流"  # surrounding spaces of any width do not count
    assert say("文明公约是什么") == UNKNOWN.format("文明公约是什么")


@pytest.mark.parametrize(
    ("words", "typed"),
    [(["KF"], "ｋｆ"), (["kf"], "ＫＦ"), (["ＫＦ"], "kf"), (["Kf"], "kF"), (["客服"], "找客服")],
)
def test_matching_ignores_width_and_case(chat, words: list[str], typed: str) -> None:
    """ＫＦ, kf and Kf are one keyword, whichever way the admin or the member typed it."""
    assert chat([{"match": words, "reply": "已通知导购"}])(typed) == "已通知导购"


def test_exact_rule_ignores_width_and_case(chat) -> None:
    """Exact matching folds width and case too."""
    assert chat([{"match": ["VIP"], "mode": "exact", "reply": "会员权益见群公告"}])("ｖｉｐ") == "会员权益见群公告"


def test_first_matching_rule_wins(chat) -> None:
    """When several rules match, the one listed first in the YAML answers, and only it."""
    say = chat([SHIPPING, {"match": ["快递", "顺丰"], "reply": "我们发顺丰"}])
    assert say("快递发顺丰吗") == "48小时内发货"
    assert say("顺丰吗") == "我们发顺丰"


def test_commands_take_precedence_over_keywords(chat) -> None:
    """A keyword that is also a command word does not shadow the command."""
    say = chat([{"match": ["帮助", "help"], "reply": "关键词回复"}])
    assert say("帮助").startswith("我能帮你做这些")
    assert say("HELP").startswith("我能帮你做这些")
    assert say("需要帮助") == "关键词回复"  # not a command: the first word is 需要帮助


def test_no_rule_matches_gives_the_hint(chat, engine: Engine) -> None:
    """Text no rule matches gets the unknown-command hint; nothing is queued."""
    assert chat([SHIPPING, RULES])("今天天气真好") == UNKNOWN.format("今天天气真好")
    assert chat([])("发货") == UNKNOWN.format("发货")
    assert count_rows(engine, OutboxMessage) == 0


def test_keyword_reply_on_app_channel_is_queued(chat, engine: Engine) -> None:
    """On the app channel the auto-reply goes to the outbox addressed to the member who asked."""
    assert chat([SHIPPING])("怎么还没发货", source="app", user="zhangsan") == ""
    with Session(engine) as session:
        rows = session.query(OutboxMessage).all()
    assert [(r.target, r.payload["content"], r.status) for r in rows] == [("zhangsan", "48小时内发货", "pending")]


def test_a_keyword_that_promises_a_person_tells_the_guide(
    chat: Callable[..., Callable[..., str]], engine: Engine
) -> None:
    say = chat(
        [
            {"match": ["人工", "客服"], "reply": "已通知你的专属导购，请稍候。", "notify_guide": True},
            {"match": ["发货"], "reply": "48小时内发货"},
        ],
        groups=[{"chat_id": "wrgroup0001", "name": "一号群", "guide": "guide01"}],
    )
    assert say("我要找人工客服") == "已通知你的专属导购，请稍候。"
    with Session(engine) as session:
        rows = session.query(OutboxMessage).all()
    assert [(r.target, r.channel != "") for r in rows] == [("guide01", True)]
    told = str(rows[0].payload["content"])
    assert "lisi" in told and "「一号群」" in told and "我要找人工客服" in told
    assert say("发货了吗") == "48小时内发货"
    assert count_rows(engine, OutboxMessage) == 1  # a plain keyword tells nobody
