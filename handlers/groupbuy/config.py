"""The `groupbuy:` section: how deals close, their defaults, their 团号, and points for joining one."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator

from bot.config.base import ConfigValueError, Strict
from bot.registry import Section


class GroupbuyConfig(Strict):
    # Close a deal (and announce it) the moment its last place is taken, instead of at its deadline.
    close_when_full: bool = False
    # 限购 when the guide does not say.
    default_limit: int = Field(default=5, ge=1, le=1000)
    # Points each confirmed member of a deal that formed gets, through the ledger (0: none).
    points_per_signup: int = Field(default=0, ge=0, le=100_000)
    # 团号: "random" (four letters and digits, e.g. T7KQ2) or "number" (the deal's number, e.g. T12).
    code_style: Literal["random", "number"] = "random"
    code_prefix: str = Field(default="T", max_length=4)
    # The furthest ahead a deadline may be, in days.
    max_deadline_days: int = Field(default=30, ge=1, le=366)
    # How many deals 我的团购 lists.
    my_list_size: int = Field(default=10, ge=1, le=50)
    # The same guide opening a deal with the same title for the same group within this many minutes
    # is asked to confirm (开团 … 确认) before a second deal opens (0: never ask).
    duplicate_minutes: int = Field(default=10, ge=0, le=1440)

    @field_validator("code_prefix")
    @classmethod
    def _typeable_prefix(cls, value: str) -> str:
        if not all(ch.isascii() and ch.isalnum() for ch in value):
            raise ConfigValueError("code_prefix must be ASCII letters or digits (members type it on a phone)")
        return value

    @property
    def horizon(self) -> timedelta:
        return timedelta(days=self.max_deadline_days)


GROUPBUY_SECTION = Section("groupbuy", GroupbuyConfig, GroupbuyConfig)
