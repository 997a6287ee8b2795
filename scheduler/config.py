"""The `scheduler:` section: the leader lease, how often it looks, how late a missed slot may still go out."""

from __future__ import annotations

from pydantic import Field, model_validator

from bot.config.base import ConfigValueError, Strict
from bot.registry import Section


class SchedulerConfig(Strict):
    """The scheduler process: who leads, how often it looks, how late a missed slot may still go out."""

    enabled: bool = True
    # A leader that stops renewing loses the lease after this long; a standby takes over then.
    lease_seconds: float = Field(default=30.0, ge=5, le=3600)
    renew_seconds: float = Field(default=10.0, gt=0)
    # How often due calendar slots are looked for (and the lease checked by a standby).
    tick_seconds: float = Field(default=20.0, ge=1, le=600)
    # A slot missed while no scheduler ran is still sent up to this late; older ones are skipped and logged.
    grace_minutes: int = Field(default=60, ge=0, le=7 * 24 * 60)
    reactivation_minutes: float = Field(default=5.0, ge=1, le=24 * 60)

    @model_validator(mode="after")
    def _renew_within_lease(self) -> SchedulerConfig:
        # Renewing at half the lease or sooner leaves a missed renewal room before a standby takes over.
        if self.renew_seconds > self.lease_seconds / 2:
            raise ConfigValueError(
                f"renew_seconds must be at most half of lease_seconds ({self.lease_seconds / 2:g})", "renew_seconds"
            )
        return self


SCHEDULER_SECTION = Section("scheduler", SchedulerConfig, SchedulerConfig)
