"""The members capability's lines in `check-config`: welcomes and rules reminders per group."""

from __future__ import annotations

from pathlib import Path

from bot.config.core import Config, GroupConfig
from bot.features import FeatureState, join_triggered
from handlers.members.config import MEMBERS_SECTION
from handlers.members.welcome_sync import sync_state
from models.db import make_engine, make_session_factory


def welcome(config: Config, group: GroupConfig) -> FeatureState:
    """Whether newcomers are greeted with the welcome and rules."""
    if not MEMBERS_SECTION.of(config).welcome.enabled:
        return FeatureState("welcome", "off", "members.welcome.enabled is false")
    if MEMBERS_SECTION.of(config).welcome.mode == "native" and group.kind == "customer":
        return FeatureState(
            "welcome", "live", "native: WeCom's 入群欢迎语 template (`groupbot welcome sync`; the owner applies it)"
        )
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


def native_welcome_lines(config: Config, config_path: Path) -> list[str]:
    """`check-config`: with native welcomes, whether each customer group's template is synced and current."""
    if MEMBERS_SECTION.of(config).welcome.mode != "native":
        return []
    try:
        engine = make_engine(config.database_url)
        factory = make_session_factory(engine)
        states = sync_state(config, factory)
    except Exception as exc:  # an unmigrated or unreachable database: say so, do not fail check-config
        return [f"native welcome: state unknown ({type(exc).__name__}); run `groupbot welcome sync`"]
    lines = [f"native welcome {group.name} ({group.chat_id}): {state}" for group, state in states]
    if any(not state.startswith("synced") for _, state in states):
        lines.append("native welcome: run `groupbot welcome sync` to write the current texts to WeCom")
    return lines
