"""The group-buy line in `check-config`: how 开团 · 接龙 · 成团 work in each group."""

from __future__ import annotations

from bot.config.core import Config, GroupConfig
from bot.features import FeatureState, member_commands, push_path


def group_buy(config: Config, group: GroupConfig) -> FeatureState:
    """How 开团 · 接龙 · 成团 works in the group, and how members hear of promotions and failed deals."""
    name = "group-buy"
    commands = member_commands(config, group)
    if commands.state == "off":
        return FeatureState(name, "off", commands.why)
    path = push_path(config, group)
    notices = (
        "member notices (promoted from the waitlist, deal not formed) go 1:1 as app messages to staff; "
        "for WeChat customers (wm…/wo…) by 微信客服 while their 48-hour window is open, "
        "else their guide gets the note to pass on"
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


def groupbuy_features(config: Config, group: GroupConfig) -> list[FeatureState]:
    return [group_buy(config, group)]
