"""The `members:` section: welcome coalescing, rules reminders and the 成员 report; checks of `groups:`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import Field

from bot.config_base import ConfigValueError, Strict

if TYPE_CHECKING:
    from bot.config import GroupConfig, RolesConfig

WELCOME_PLACEHOLDERS = frozenset({"names", "group", "rules"})
RULES_PLACEHOLDERS = frozenset({"group"})


class WelcomeConfig(Strict):
    enabled: bool = True
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


def check_groups(groups: Sequence[GroupConfig], roles: RolesConfig | None) -> None:
    """Refuse groups whose guide is no staff member or whose push cannot reach that kind of group."""
    from bot.config import placeholders

    staff = set(roles.guides) | set(roles.admins) if roles is not None else None
    for index, group in enumerate(groups):
        if group.guide is not None and staff is not None and group.guide not in staff:
            raise ConfigValueError(
                f"guide {group.guide!r} is not listed under roles.guides or roles.admins", index, "guide"
            )
        if group.kind == "customer" and group.push not in ("customer_task", "console"):
            raise ConfigValueError(
                "WeCom lets no bot post in a customer group: use push: customer_task (the guide confirms) or console",
                index,
                "push",
            )
        if group.kind == "internal" and group.push == "customer_task":
            raise ConfigValueError("customer_task only reaches customer groups (kind: customer)", index, "push")
        if group.push == "customer_task" and group.guide is None:
            raise ConfigValueError(
                "a customer_task group needs a guide: the task is sent in their name", index, "guide"
            )
        if group.webhook_key and group.push != "webhook":
            raise ConfigValueError("webhook_key is only used with push: webhook", index, "webhook_key")
        for key, allowed in (("welcome", WELCOME_PLACEHOLDERS), ("rules", RULES_PLACEHOLDERS)):
            template = getattr(group, key)
            unknown = placeholders(template) - allowed if template else set()
            if unknown:
                shown = ", ".join("{" + name + "}" for name in sorted(allowed))
                raise ConfigValueError(
                    f"unknown placeholder(s) {', '.join('{' + n + '}' for n in sorted(unknown))}; allowed: {shown}",
                    index,
                    key,
                )
