"""Group-buys (开团 · 接龙 · 成团): guides open deals, members sign up, deals close and form."""

from __future__ import annotations

from bot.registry import Capability
from handlers.groupbuy import commands, manage
from handlers.groupbuy.cli import groupbuy_group, guides
from handlers.groupbuy.commands import close_due_groupbuys
from handlers.groupbuy.config import GROUPBUY_SECTION
from handlers.groupbuy.features import groupbuy_features
from handlers.groupbuy.profile import signups_profile

CAPABILITY = Capability(
    name="groupbuy",
    modules=(commands, manage),
    section=GROUPBUY_SECTION,
    texts="handlers.groupbuy",
    cli=(groupbuy_group,),
    reports=(guides,),
    deadlines=(close_due_groupbuys,),
    features=(groupbuy_features,),
    profile=(signups_profile,),
    # The 开团 summary may offer the deal's customer group's 微信客服 link ("点此签到/报名：{kf_link}").
    text_placeholders=(("groupbuy_summary", "kf_link"),),
)
