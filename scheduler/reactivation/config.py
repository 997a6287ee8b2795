"""The `reactivation:` section: when a quiet member counts as dormant and the ladder of nudges that follows."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from bot.config.base import ConfigValueError, Strict
from bot.config.core import placeholders
from bot.config.outbound import QuietHoursConfig
from bot.registry import Section

Action = Literal["group_mention", "private_note", "tell_guide"]
# The text each action says unless its step gives its own `text:`; the fields a step's text may use.
ACTION_TEXT: dict[str, str] = {
    "group_mention": "reactivation_group_mention",
    "private_note": "reactivation_private_note",
    "tell_guide": "reactivation_tell_guide",
}
STEP_FIELDS = frozenset({"name", "group", "days"})


def _default_quiet_hours() -> QuietHoursConfig:
    return QuietHoursConfig(start="21:30", end="08:30")


class LadderStep(Strict):
    """One rung: after `after_days` of silence in a group, do `action` once in that dormant spell."""

    after_days: int = Field(ge=1, le=365)
    action: Action
    # A template of the step's own (e.g. the offer of the 1:1 note); None uses the action's text.
    text: str | None = Field(default=None, min_length=1)

    @field_validator("text")
    @classmethod
    def _known_fields(cls, value: str | None) -> str | None:

        if value is not None:
            unknown = placeholders(value) - STEP_FIELDS
            if unknown:
                allowed = ", ".join("{" + f + "}" for f in sorted(STEP_FIELDS))
                raise ValueError(f"unknown placeholder(s) {', '.join(sorted(unknown))}; allowed: {allowed}")
        return value


def _default_ladder() -> list[LadderStep]:
    return [
        LadderStep(after_days=7, action="group_mention"),
        LadderStep(after_days=14, action="private_note"),
        LadderStep(after_days=30, action="tell_guide"),
    ]


class ReactivationConfig(Strict):
    """Win back members who went quiet, with a holdout share that is never nudged to show whether it works."""

    enabled: bool = False
    dormant_days: int = Field(default=7, ge=1, le=365)
    ladder: list[LadderStep] = Field(default_factory=_default_ladder, min_length=1)
    # The last step, missed (caps, quiet hours, downtime), is still taken this many days late; earlier
    # steps are superseded by the next one instead.
    catch_up_days: int = Field(default=3, ge=0, le=60)
    quiet_hours: QuietHoursConfig = Field(default_factory=_default_quiet_hours)
    min_gap_hours: float = Field(default=72.0, ge=0)
    daily_cap_per_group: int = Field(default=20, ge=0)
    daily_cap_total: int = Field(default=200, ge=0)
    holdout_percent: float = Field(default=10.0, ge=0, le=100)
    # Changing the salt reshuffles who is in the holdout; keep it while comparing.
    holdout_salt: str = Field(default="reactivation", min_length=1)
    # Most members looked at per ladder step in one pass; the rest wait for the next pass.
    batch_size: int = Field(default=500, ge=1, le=10000)

    @model_validator(mode="after")
    def _ladder_in_order(self) -> ReactivationConfig:
        previous = 0
        for index, step in enumerate(self.ladder):
            if step.after_days <= previous:
                raise ConfigValueError(
                    f"ladder days must increase step by step ({step.after_days} after {previous})",
                    "ladder",
                    index,
                    "after_days",
                )
            previous = step.after_days
        if self.ladder[0].after_days < self.dormant_days:
            raise ConfigValueError(
                f"the first step ({self.ladder[0].after_days} days) comes before a member is dormant "
                f"({self.dormant_days} days)",
                "ladder",
                0,
                "after_days",
            )
        return self

    @property
    def window_days(self) -> int:
        """How far back (days of silence) a member can still be on the ladder."""
        return self.ladder[-1].after_days + self.catch_up_days


REACTIVATION_SECTION = Section("reactivation", ReactivationConfig, ReactivationConfig)
