"""What each configured group really gets from the bot, given its kind, its push and the WeCom setup.

WeCom lets a bot do different things in staff groups and customer groups; rather than let a
feature fail quietly, `groupbot check-config` prints these states so the admin sees the gap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from bot.config import Config, GroupConfig

State = Literal["live", "degraded", "off"]


@dataclass(frozen=True)
class FeatureState:
    feature: str
    state: State
    why: str


def push_path(config: Config, group: GroupConfig) -> FeatureState:
    """How proactive messages (welcomes, reminders, announcements) reach the group."""
    name = "push"
    if group.push == "console":
        return FeatureState(name, "degraded", "push: console prints messages on the server; the group sees nothing")
    if config.outbox.transport == "console":
        return FeatureState(name, "degraded", f"push: {group.push}, but outbox.transport is console: printed only")
    if group.push == "webhook":
        if not group.webhook_key:
            return FeatureState(name, "off", "push: webhook without webhook_key: messages fail until it is set")
        return FeatureState(name, "live", "group robot webhook, at most 20 messages a minute")
    if group.push == "appchat":
        return FeatureState(name, "live", "appchat/send (only groups the app created)")
    return FeatureState(
        name, "degraded", f"a task guide {group.guide} confirms in WeCom; at most one per day of the month"
    )


def member_commands(config: Config, group: GroupConfig) -> FeatureState:
    """Whether members can use commands (签到, 积分, 兑换, 群规 …) where they chat."""
    name = "commands"
    if group.kind == "customer":
        if not (config.aibot.callback_ready or config.wecom.callback_ready):
            return FeatureState(name, "off", "no callback configured: set aibot or wecom token and encoding_aes_key")
        return FeatureState(name, "degraded", "no bot can hear a customer group: members send commands 1:1")
    if not config.aibot.callback_ready:
        return FeatureState(name, "off", "the aibot callback is not configured (aibot.token, encoding_aes_key)")
    return FeatureState(name, "live", "members @ the bot in the group (aibot)")


def _joins_unheard(config: Config, group: GroupConfig) -> str | None:
    """Say why the bot cannot learn of joins in `group`, or None when it can."""
    if group.kind == "internal":
        # WeCom reports joins (change_external_chat) for customer groups only.
        return "WeCom reports no joins in internal groups; members count from their first word"
    if not config.wecom.callback_ready:
        return "joins arrive on the app callback: set wecom.corp_id, token, encoding_aes_key"
    return None


def _join_triggered(config: Config, group: GroupConfig, name: str, what: str) -> FeatureState:
    unheard = _joins_unheard(config, group)
    if unheard is not None:
        return FeatureState(name, "off", unheard)
    path = push_path(config, group)
    if path.state == "off":
        return FeatureState(name, "off", path.why)
    return FeatureState(name, "degraded", f"{what}; sent as {path.why}")


def welcome(config: Config, group: GroupConfig) -> FeatureState:
    """Whether newcomers are greeted with the welcome and rules."""
    if not config.members.welcome.enabled:
        return FeatureState("welcome", "off", "members.welcome.enabled is false")
    window = config.members.welcome.window_for(group.kind)
    return _join_triggered(config, group, "welcome", f"joins within {window} s share one welcome")


def rules_reminder(config: Config, group: GroupConfig) -> FeatureState:
    """Whether the rules are re-posted as the group grows."""
    every = config.members.rules.remind_every.members
    if every is None:
        return FeatureState("rules reminder", "off", "members.rules.remind_every.members is not set")
    return _join_triggered(config, group, "rules reminder", f"after every {every} new members")


# Later capabilities append their own entries; the order is the order printed.
FEATURES: list[Callable[[Config, GroupConfig], FeatureState]] = [push_path, member_commands, welcome, rules_reminder]


def group_features(config: Config, group: GroupConfig) -> list[FeatureState]:
    """Return the state of every feature in `group`."""
    return [feature(config, group) for feature in FEATURES]


def reactivation(config: Config, group: GroupConfig) -> FeatureState:
    """What each ladder step does for members gone quiet in this group."""
    name = "reactivation"
    settings = config.reactivation
    if not settings.enabled:
        return FeatureState(name, "off", "reactivation.enabled is false")
    doing = []
    for step in settings.ladder:
        if step.action == "group_mention":
            mention = group.kind == "internal" and group.push != "customer_task"
            doing.append(f"day {step.after_days}: " + ("@ in the group" if mention else "skipped (tasks cannot @)"))
        elif step.action == "private_note":
            what = "1:1 note (customers: via their guide)" if group.kind == "customer" else "1:1 note"
            doing.append(f"day {step.after_days}: {what}")
        else:
            doing.append(f"day {step.after_days}: tell the guide")
    if group.kind == "customer":
        doing.append("activity seen: joins and 1:1 use of the bot (no bot hears the group)")
    skipped = group.kind == "customer" and any(step.action == "group_mention" for step in settings.ladder)
    return FeatureState(name, "degraded" if skipped else "live", "; ".join(doing))


FEATURES.append(reactivation)
