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


def group_buy(config: Config, group: GroupConfig) -> FeatureState:
    """How 开团 · 接龙 · 成团 works in the group, and how members hear of promotions and failed deals."""
    name = "group-buy"
    commands = member_commands(config, group)
    if commands.state == "off":
        return FeatureState(name, "off", commands.why)
    path = push_path(config, group)
    notices = (
        "member notices (promoted from the waitlist, deal not formed) go 1:1 as app messages to staff; "
        "for WeChat customers (wm…/wo…) their guide gets the note to pass on"
    )
    if group.kind == "customer":
        return FeatureState(
            name,
            "degraded",
            f"members sign up 1:1 by 团号; guides open deals 1:1 with 群={group.name}; "
            f"announcements: {path.why}; {notices}",
        )
    if path.state != "live":
        return FeatureState(name, "degraded", f"signups by @ the bot; deadline announcements: {path.why}; {notices}")
    return FeatureState(name, "live", f"signups by @ the bot; announcements by {path.why}; {notices}")


def content_calendar(config: Config, group: GroupConfig) -> FeatureState:
    """Whether calendar entries reach the group, and in what form."""
    name = "calendar"
    from scheduler.content_calendar import targets

    entries = [entry.id for entry in config.calendar if entry.enabled and group.chat_id in targets(entry, config)]
    if not entries:
        return FeatureState(name, "off", "no calendar entry targets this group")
    listed = ", ".join(entries)
    if not config.scheduler.enabled:
        return FeatureState(name, "off", f"{listed}: scheduler.enabled is false")
    path = push_path(config, group)
    if path.state != "live":
        return FeatureState(name, path.state, f"{listed}: {path.why}")
    if group.push == "customer_task":
        return FeatureState(
            name, "degraded", f"{listed}: text tasks the guide confirms (news as a link), sharing the monthly cap"
        )
    return FeatureState(name, "live", f"{listed}: posted at the slot time (text, markdown or news card)")


def quiz(config: Config, group: GroupConfig) -> FeatureState:
    """How 竞猜 runs: live in internal groups through aibot; in customer groups answers come 1:1."""
    name = "quiz"
    if not config.quiz.questions:
        return FeatureState(name, "off", "quiz.questions is empty")
    path = push_path(config, group)
    if group.kind == "customer":
        if not (config.aibot.callback_ready or config.wecom.callback_ready):
            return FeatureState(name, "off", "no callback configured: members could not answer 1:1")
        return FeatureState(name, "degraded", f"members answer 1:1; question and result go out as {path.why}")
    if not config.aibot.callback_ready:
        return FeatureState(name, "off", "the aibot callback is not configured: nobody can answer")
    if path.state != "live":
        return FeatureState(name, "degraded", f"answers live through aibot; the result at the deadline: {path.why}")
    return FeatureState(name, "live", f"answers through aibot; results with @mentions ({path.why})")


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


# The order is the order `check-config` prints.
FEATURES: list[Callable[[Config, GroupConfig], FeatureState]] = [
    push_path,
    member_commands,
    welcome,
    rules_reminder,
    group_buy,
    content_calendar,
    quiz,
    reactivation,
]


def group_features(config: Config, group: GroupConfig) -> list[FeatureState]:
    """Return the state of every feature in `group`."""
    return [feature(config, group) for feature in FEATURES]
