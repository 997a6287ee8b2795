"""微信客服 (kf): WeChat customers of customer groups use the bot 1:1 (签到 · 积分 · 接龙 · 竞猜 · 兑换).

Exports `kf_link(session, config, chat_id) -> str | None`: the customer group's cached kf link, for
pages and texts that offer it to a customer.
"""

from __future__ import annotations

from bot.registry import Capability
from handlers.kf import commands
from handlers.kf.cli import kf_group
from handlers.kf.config import KF_SECTION
from handlers.kf.features import kf_check_lines, kf_features
from handlers.kf.links import kf_link, member_links
from handlers.kf.puller import KfPuller, start_kf_puller

__all__ = ["CAPABILITY", "KfPuller", "kf_link"]

CAPABILITY = Capability(
    name="kf",
    modules=(commands,),
    section=KF_SECTION,
    texts="handlers.kf",
    cli=(kf_group,),
    features=(kf_features,),
    workers=(start_kf_puller,),
    check_lines=(kf_check_lines,),
    member_links=(member_links,),
)
