"""抽奖: guides draw winners from a pool with a secret seed; every draw is recorded and verifiable."""

from __future__ import annotations

from bot.registry import Capability
from handlers.lottery import commands
from handlers.lottery.cli import lottery_group
from handlers.lottery.config import LOTTERY_SECTION

CAPABILITY = Capability(
    name="lottery",
    modules=(commands,),
    section=LOTTERY_SECTION,
    texts="handlers.lottery",
    cli=(lottery_group,),
)
