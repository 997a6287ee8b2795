"""The points economy: 签到 with streaks, the ledger, tiers, boards, 加分/扣分 and 兑换."""

from __future__ import annotations

from bot.registry import Capability
from handlers.points import admin, boards, checkin, redeem
from handlers.points.cli import points
from handlers.points.config import POINTS_SECTION
from handlers.points.profile import points_profile

CAPABILITY = Capability(
    name="points",
    modules=(checkin, boards, admin, redeem),
    section=POINTS_SECTION,
    texts="handlers.points",
    cli=(points,),
    profile=(points_profile,),
)
