"""`check-config`: per customer group, what members can do through 微信客服 and what the window means."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from bot.config.core import Config, GroupConfig
from bot.features import FeatureState
from handlers.kf.config import KF_SECTION

WINDOW = (
    "the bot may answer within 48 hours of the member's last message and at most 5 messages until they write "
    "again; further answers wait in the outbox until they do"
)


def kf_features(config: Config, group: GroupConfig) -> list[FeatureState]:
    if group.kind != "customer":
        return []
    name = "kf (微信客服)"
    settings = KF_SECTION.of(config)
    if not settings.enabled:
        return [FeatureState(name, "off", "kf.accounts is empty: WeChat members cannot use the bot 1:1 at all")]
    if not config.wecom.callback_ready:
        return [FeatureState(name, "off", "wecom token / encoding_aes_key empty: no kf_msg_or_event reaches the bot")]
    if config.outbox.transport != "wecom":
        return [FeatureState(name, "degraded", "outbox.transport is console: kf answers are printed, not sent")]
    return [
        FeatureState(
            name,
            "live",
            "members open the group's kf link (groupbot kf link --group NAME) in WeChat and use 签到, 积分, 排行, "
            f"活跃榜, 兑换, 接龙/取消/我的团购, quiz answers, 群规, 帮助 1:1, counted for {group.name}; {WINDOW}",
        )
    ]


def kf_check_lines(config: Config, config_path: Path) -> Iterable[str]:
    settings = KF_SECTION.of(config)
    if not settings.enabled:
        return []
    names = ", ".join(f"{a.name} ({a.open_kfid})" for a in settings.accounts)
    return [
        f"  kf accounts: {names}; pulled by `serve` / `drain` on each kf_msg_or_event and every "
        f"{settings.poll_seconds}s; menu: {', '.join(i.label for i in settings.menu)}"
    ]
