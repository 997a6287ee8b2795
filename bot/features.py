"""What each configured group really gets from the bot, given its kind, its push and the WeCom setup.

WeCom lets a bot do different things in staff groups and customer groups; rather than let a
feature fail quietly, `groupbot check-config` prints these states so the admin sees the gap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from bot.config.core import Config, GroupConfig

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


def joins_unheard(config: Config, group: GroupConfig) -> str | None:
    """Say why the bot cannot learn of joins in `group`, or None when it can."""
    if group.kind == "internal":
        # WeCom reports joins (change_external_chat) for customer groups only.
        return "WeCom reports no joins in internal groups; members count from their first word"
    if not config.wecom.callback_ready:
        return "joins arrive on the app callback: set wecom.corp_id, token, encoding_aes_key"
    return None


def join_triggered(config: Config, group: GroupConfig, name: str, what: str) -> FeatureState:
    unheard = joins_unheard(config, group)
    if unheard is not None:
        return FeatureState(name, "off", unheard)
    path = push_path(config, group)
    if path.state == "off":
        return FeatureState(name, "off", path.why)
    return FeatureState(name, "degraded", f"{what}; sent as {path.why}")


def sidebar_delivery(config: Config, group: GroupConfig) -> FeatureState:
    """How a customer group's content reaches it: the guide's sidebar, a task, or the sidebar then a task."""
    name = "delivery"
    if group.kind != "customer":
        return FeatureState(name, "live", "internal group: the bot posts itself; no sidebar needed")
    if group.delivery == "task" or not group.guide:
        return FeatureState(
            name, "degraded", "delivery: task: each message is a customer task the guide confirms, ~1 a day"
        )
    page = f"{config.web.public_url}/web/sidebar" if config.web.public_url else "web.public_url is not set"
    if group.delivery == "sidebar":
        why = f"guide {group.guide} sends each message from the chat toolbar ({page}); no task, no cap"
    else:
        why = (
            f"guide {group.guide} sends from the chat toolbar ({page}), no cap; what waits longer than "
            f"{config.web.sidebar_grace_minutes:g} min becomes a task (~1 a day)"
        )
    return FeatureState(name, "live" if config.web.public_url else "degraded", why)


# The shell's own lines come first; each capability adds its own after them.
CORE_FEATURES: tuple[Callable[[Config, GroupConfig], FeatureState], ...] = (
    push_path,
    sidebar_delivery,
    member_commands,
)


def group_features(
    config: Config, group: GroupConfig, lines: Iterable[Callable[[Config, GroupConfig], list[FeatureState]]] = ()
) -> list[FeatureState]:
    """Return the state of every feature in `group`: the shell's, then each capability's `lines`."""
    states = [feature(config, group) for feature in CORE_FEATURES]
    for capability_lines in lines:
        states.extend(capability_lines(config, group))
    return states
