"""群规: a group's own rules or the default, 1:1 by group name, and the reminder after every N newcomers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.clock import FrozenClock
from bot.services import Services
from tests.factories import default_texts
from tests.handlers.members.chat import CUSTOMER, TEAM, GroupBot, make_group_bot

TEXTS = default_texts()


@pytest.fixture
def bot(make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock) -> GroupBot:
    return make_group_bot(make_services, tmp_path, clock, members={"rules": {"remind_every": {"members": 3}}})


def test_rules_with_override(bot: GroupBot) -> None:
    """In a group with its own rules, any member gets exactly those."""
    assert bot.say("群规", user="lisi", chat=TEAM) == "「团长群」团长群规：只聊团购。"


def test_rules_without_override_use_the_default(bot: GroupBot) -> None:
    """A group without rules of its own shows texts.rules_default."""
    assert bot.say("群规", chat=CUSTOMER) == f"「社区福利1群」{TEXTS['rules_default']}"


def test_rules_in_a_private_chat(bot: GroupBot) -> None:
    """1:1, 「群规 群名」 names the group; bare 「群规」 gives the default rules; an unknown name says so."""
    assert bot.say("群规 团长群", chat=None) == "「团长群」团长群规：只聊团购。"
    assert bot.say("群规", chat=None, source="app") == ""  # the app channel answers through the outbox
    [row] = [r for r in bot.outbox() if r.target == "lisi"][-1:]
    assert row.payload["content"] == TEXTS["rules_default"]
    assert bot.say("群规 没有这个群", chat=None) == "找不到群「没有这个群」，请写群的名字，例如「一号群」。"


def test_rules_reposted_after_every_third_newcomer(bot: GroupBot) -> None:
    """remind_every.members: 3 — the 3rd and the 6th newcomers trigger a rules post to the group, not the 2nd."""

    def reminders() -> list[str]:
        return [
            r.payload["content"] for r in bot.outbox() if r.target == CUSTOMER and "群规提醒" in r.payload["content"]
        ]

    bot.join(CUSTOMER, ["wm1", "wm2"])
    assert reminders() == []
    bot.clock.advance(minutes=5)
    bot.join(CUSTOMER, ["wm3"])
    assert reminders() == [TEXTS["rules_reminder"].format(rules=TEXTS["rules_default"])]
    bot.clock.advance(minutes=5)
    bot.join(CUSTOMER, ["wm3"])  # already in: not a newcomer
    bot.join(CUSTOMER, ["wm4", "wm5"])
    assert len(reminders()) == 1
    bot.clock.advance(minutes=5)
    bot.join(CUSTOMER, ["wm6"])
    assert len(reminders()) == 2


def test_no_reminder_when_off(make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock) -> None:
    """remind_every.members unset: joins bring only welcomes."""
    bot = make_group_bot(make_services, tmp_path, clock)
    bot.join(CUSTOMER, [f"wm{i}" for i in range(60)])
    [welcome] = bot.outbox()
    assert welcome.payload["content"].startswith("欢迎 60 位新朋友") and "群规提醒" not in welcome.payload["content"]
