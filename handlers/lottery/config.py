"""The `lottery:` section: how many may win at once and what a draw is called by default."""

from __future__ import annotations

from pydantic import Field

from bot.config.base import Strict
from bot.registry import Section


class LotteryConfig(Strict):
    # The most winners one 抽奖 may draw, and the largest 活跃前M pool.
    max_winners: int = Field(default=50, ge=1, le=1000)
    max_pool_top: int = Field(default=200, ge=1, le=10_000)
    # The most points a draw may credit each winner (through the ledger); 0 turns crediting off.
    max_points: int = Field(default=1000, ge=0, le=100_000)
    # What the announcement calls the prize when the guide does not say (奖品=…).
    default_prize: str = Field(default="幸运奖", min_length=1, max_length=32)


LOTTERY_SECTION = Section("lottery", LotteryConfig, LotteryConfig)
