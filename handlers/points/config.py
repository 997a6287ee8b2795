"""The `points:` section: check-in points, streak bonuses, caps, tiers, leaderboards and rewards."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator

from bot.config.base import ConfigValueError, Strict, require_unique
from bot.registry import Section
from bot.text import fold
from models.business_day import business_day, streak_bonus


class TierConfig(Strict):
    name: str = Field(min_length=1)
    min_earned: int = Field(ge=1)


class RewardConfig(Strict):
    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    name: str = Field(min_length=1)
    cost: int = Field(ge=1)
    stock: int = Field(ge=0)
    per_member_limit: int = Field(default=1, ge=1)


class PointsConfig(Strict):
    reset_hour: int = Field(default=0, ge=0, le=23)
    checkin_points: int = Field(default=10, ge=1)
    streak_bonuses: dict[int, int] = Field(default_factory=dict)
    streak_repeat: bool = True
    daily_earn_cap: int = Field(default=0, ge=0)
    tiers: list[TierConfig] = Field(default_factory=list)
    leaderboard_size: int = Field(default=10, ge=1, le=100)
    rewards: list[RewardConfig] = Field(default_factory=list)

    @field_validator("streak_bonuses")
    @classmethod
    def _positive_bonuses(cls, value: dict[int, int]) -> dict[int, int]:
        for day, bonus in value.items():
            if day < 1:
                raise ConfigValueError("a streak day must be 1 or more", day)
            if bonus < 0:
                raise ConfigValueError("a streak bonus cannot be negative", day)
        return value

    @field_validator("tiers")
    @classmethod
    def _rising_tiers(cls, tiers: list[TierConfig]) -> list[TierConfig]:
        for index in range(1, len(tiers)):
            if tiers[index].min_earned <= tiers[index - 1].min_earned:
                raise ConfigValueError("tiers must be listed from lowest to highest min_earned", index, "min_earned")
        return tiers

    @field_validator("rewards")
    @classmethod
    def _unique_codes(cls, rewards: list[RewardConfig]) -> list[RewardConfig]:
        require_unique(rewards, lambda reward: reward.code, "reward code", "code")
        return rewards

    def day(self, at: datetime, zone: ZoneInfo) -> date:
        """Return the business day `at` falls in."""
        return business_day(at, zone, self.reset_hour)

    def bonus(self, streak: int) -> int:
        """Return the streak bonus earned on the `streak`-th consecutive day."""
        return streak_bonus(streak, self.streak_bonuses, repeat=self.streak_repeat)

    @property
    def cap(self) -> int | None:
        """The daily earn cap, or None when there is none."""
        return self.daily_earn_cap or None

    def reward(self, code: str) -> RewardConfig | None:
        """Return the reward with `code` (case- and width-insensitive: 「ａ０１」 finds A01), or None."""
        folded = fold(code)
        return next((r for r in self.rewards if fold(r.code) == folded), None)

    def tier_of(self, earned: int) -> TierConfig | None:
        """Return the highest tier `earned` reaches, or None below the first."""
        reached = [tier for tier in self.tiers if earned >= tier.min_earned]
        return reached[-1] if reached else None


POINTS_SECTION = Section(
    "points", PointsConfig, PointsConfig, guards=(("rewards", lambda points: len(points.rewards)),)
)
