"""The reactivation line in `check-config`: what each ladder step does in each group."""

from __future__ import annotations

from bot.config.core import Config, GroupConfig
from bot.features import FeatureState
from scheduler.reactivation.config import REACTIVATION_SECTION


def reactivation(config: Config, group: GroupConfig) -> FeatureState:
    """What each ladder step does for members gone quiet in this group."""
    name = "reactivation"
    settings = REACTIVATION_SECTION.of(config)
    if not settings.enabled:
        return FeatureState(name, "off", "reactivation.enabled is false")
    doing = []
    for step in settings.ladder:
        if step.action == "group_mention":
            mention = group.kind == "internal" and group.push != "customer_task"
            doing.append(f"day {step.after_days}: " + ("@ in the group" if mention else "skipped (tasks cannot @)"))
        elif step.action == "private_note":
            what = "1:1 note (customers: via their guide)" if group.kind == "customer" else "1:1 note"
            doing.append(f"day {step.after_days}: {what}")
        else:
            doing.append(f"day {step.after_days}: tell the guide")
    if group.kind == "customer":
        doing.append("activity seen: joins and 1:1 use of the bot (no bot hears the group)")
    skipped = group.kind == "customer" and any(step.action == "group_mention" for step in settings.ladder)
    return FeatureState(name, "degraded" if skipped else "live", "; ".join(doing))


def reactivation_features(config: Config, group: GroupConfig) -> list[FeatureState]:
    return [reactivation(config, group)]
