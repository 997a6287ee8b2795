"""The members capability's lines in `check-config`: welcomes and rules reminders per group."""

from __future__ import annotations

from bot.config.core import Config, GroupConfig
from bot.features import FeatureState, join_triggered
from handlers.members.config import MEMBERS_SECTION


def welcome(config: Config, group: GroupConfig) -> FeatureState:
    """Whether newcomers are greeted with the welcome and rules."""
    if not MEMBERS_SECTION.of(config).welcome.enabled:
        return FeatureState("welcome", "off", "members.welcome.enabled is false")
    window = MEMBERS_SECTION.of(config).welcome.window_for(group.kind)
    return join_triggered(config, group, "welcome", f"joins within {window} s share one welcome")


def rules_reminder(config: Config, group: GroupConfig) -> FeatureState:
    """Whether the rules are re-posted as the group grows."""
    every = MEMBERS_SECTION.of(config).rules.remind_every.members
    if every is None:
        return FeatureState("rules reminder", "off", "members.rules.remind_every.members is not set")
    return join_triggered(config, group, "rules reminder", f"after every {every} new members")


def member_features(config: Config, group: GroupConfig) -> list[FeatureState]:
    """Welcome and rules-reminder states of `group`."""
    return [welcome(config, group), rules_reminder(config, group)]
