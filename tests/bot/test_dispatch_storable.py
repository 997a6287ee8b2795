"""Every channel's text follows the one rule for unstorable characters, not only what the callbacks decrypt."""

from __future__ import annotations

from bot.clock import FrozenClock
from bot.services import Services
from tests.factories import ChatBot


def test_a_nul_typed_in_the_console_is_answered_the_same_on_both_backends(
    services: Services, clock: FrozenClock
) -> None:
    bot = ChatBot(services, clock)
    # The hint quotes the text back and is stored with the event; PostgreSQL refuses NUL in text.
    answer = bot.say("开团 价格= \x00", user="guide01", msg_id="nul-1")
    assert "未开团" in answer and "\x00" not in answer
    assert bot.say("开团 价格= \x00", user="guide01", msg_id="nul-1") == answer  # a retry gets the stored answer
