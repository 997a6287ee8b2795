"""The `members:` section: welcome coalescing, rules reminders and the 成员 report."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bot.config.base import Strict
from bot.registry import Section


class WelcomeConfig(Strict):
    enabled: bool = True
    # message: the bot queues a welcome (a task in customer groups, one unit of the cap each).
    # native: customer groups are welcomed by WeCom itself with the 入群欢迎语 template `groupbot welcome sync`
    # writes from the same text (%NICKNAME% for the names); internal groups still get the message.
    mode: Literal["message", "native"] = "message"
    # Joins within this many seconds of the first one share one welcome.
    window_seconds: int = Field(default=60, ge=0, le=3600)
    # Customer-group welcomes are tasks counted against WeCom's monthly cap; null = window_seconds.
    customer_window_seconds: int | None = Field(default=None, ge=0, le=86400)
    # A wave of hundreds is named up to this many, then "等 N 位".
    max_names: int = Field(default=30, ge=1, le=200)
    mention: bool = True

    def window_for(self, kind: str) -> int:
        """Return the coalescing window for a group of `kind`."""
        if kind == "customer" and self.customer_window_seconds is not None:
            return self.customer_window_seconds
        return self.window_seconds


class RemindEvery(Strict):
    # Re-post the rules after this many new members of a group; null turns it off.
    members: int | None = Field(default=None, ge=1)


class RulesConfig(Strict):
    remind_every: RemindEvery = Field(default_factory=RemindEvery)


class MembersConfig(Strict):
    welcome: WelcomeConfig = Field(default_factory=WelcomeConfig)
    rules: RulesConfig = Field(default_factory=RulesConfig)
    silent_days: int = Field(default=7, ge=1, le=365)


MEMBERS_SECTION = Section("members", MembersConfig, MembersConfig)
