"""Settings for delivering to WeCom: API timeouts, rate limits, quiet hours and customer-task polling."""

from __future__ import annotations

from datetime import time
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator, model_validator

from bot.config.base import ConfigValueError, Strict

if TYPE_CHECKING:
    from bot.config.core import Config

# The longest one WeCom send may take, as a share of outbox.reclaim_after_seconds: started just before the
# drainer's release point (half of it), it still ends by 90% of it, leaving the rest for the database writes.
SEND_SHARE = 0.4


class LimitsConfig(Strict):
    """WeCom's published limits; a spent budget makes messages wait for the next window."""

    enabled: bool = True
    webhook_per_minute: int = Field(default=20, ge=1)
    app_message_per_minute: int = Field(default=30, ge=1)
    app_message_per_hour: int = Field(default=1000, ge=1)
    # appchat budgets count recipients (人次: each member of the group counts), per minute and per hour.
    appchat_per_minute: int = Field(default=20000, ge=1)
    appchat_per_hour: int = Field(default=300000, ge=1)
    # The corp's 客户群群发 setting in WeCom (管理后台 → 客户与上下游 → 客户联系 → 群发): each customer group gets
    # one mass message a day (per_day), seven a week (per_week) or as many a month as the month has days
    # (per_month). https://developer.work.weixin.qq.com/document/path/92135
    customer_task_cap: Literal["per_month", "per_week", "per_day"] = "per_month"
    # Overrides the per_month figure (None: days in the month).
    customer_task_per_month: int | None = Field(default=None, ge=1)
    # Messages the aibot pushes on its long connection, per chat.
    aibot_per_minute: int = Field(default=20, ge=1)
    aibot_per_hour: int = Field(default=600, ge=1)


class QuietHoursConfig(Strict):
    """A daily span (configured time zone) in which nothing but answers to members is sent."""

    enabled: bool = True
    start: str = "22:00"
    end: str = "08:00"

    @field_validator("start", "end")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        try:
            time.fromisoformat(value)
        except ValueError:
            raise ValueError("use a 24-hour time such as 22:00") from None
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHoursConfig:
        if self.enabled and self.start == self.end:
            raise ConfigValueError("start and end are equal; set enabled: false to turn quiet hours off", "end")
        return self

    @property
    def start_time(self) -> time:
        return time.fromisoformat(self.start)

    @property
    def end_time(self) -> time:
        return time.fromisoformat(self.end)


class OutboundConfig(Strict):
    """How the `wecom` outbox transport talks to WeCom."""

    timeout_seconds: float = Field(default=10.0, gt=0)
    token_lease_seconds: float = Field(default=15.0, gt=0)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    quiet_hours: QuietHoursConfig = Field(default_factory=QuietHoursConfig)
    task_poll_seconds: float = Field(default=300.0, gt=0)
    task_expire_hours: float = Field(default=24.0, gt=0)
    # remind_groupmsg_send re-notifies the guide: WeCom allows three per task within 24 hours
    # (https://developer.work.weixin.qq.com/document/path/97610); 0 turns reminders off.
    task_reminders: int = Field(default=2, ge=0, le=3)
    task_remind_every_hours: float = Field(default=4.0, gt=0)


def check_reclaim_after(config: Config) -> Config:
    """Refuse an outbox.reclaim_after_seconds too short for one token fetch and one post at the timeout.

    A WeCom send is cut off at SEND_SHARE of reclaim_after (so no other drainer resends the row meanwhile);
    below this, a slow but healthy WeCom would have every send cut off and retried until the row fails.
    """
    if config.outbox.transport != "wecom":
        return config
    timeout = config.outbound.timeout_seconds
    reclaim = config.outbox.reclaim_after_seconds
    needed = 2 * timeout / SEND_SHARE
    if reclaim < needed:
        raise ConfigValueError(
            f"{reclaim:g} s is too short for outbound.timeout_seconds {timeout:g}: one send may take "
            f"{SEND_SHARE:.0%} of it ({reclaim * SEND_SHARE:g} s) and needs room for a token fetch and a post "
            f"at {timeout:g} s each; set it to at least {needed:g} (or lower outbound.timeout_seconds)",
            "outbox",
            "reclaim_after_seconds",
        )
    return config
