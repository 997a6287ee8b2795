"""The quiz line in `check-config`: how 竞猜 runs in each group."""

from __future__ import annotations

from bot.config.core import Config, GroupConfig
from bot.features import FeatureState, push_path
from handlers.quiz.config import QUIZ_SECTION


def quiz(config: Config, group: GroupConfig) -> FeatureState:
    """How 竞猜 runs: live in internal groups through aibot; in customer groups answers come 1:1."""
    name = "quiz"
    if not QUIZ_SECTION.of(config).questions:
        return FeatureState(name, "off", "quiz.questions is empty")
    path = push_path(config, group)
    if group.kind == "customer":
        if not (config.aibot.callback_ready or config.wecom.callback_ready):
            return FeatureState(name, "off", "no callback configured: members could not answer 1:1")
        return FeatureState(name, "degraded", f"members answer 1:1; question and result go out as {path.why}")
    if not config.aibot.callback_ready:
        return FeatureState(name, "off", "the aibot callback is not configured: nobody can answer")
    if path.state != "live":
        return FeatureState(name, "degraded", f"answers live through aibot; the result at the deadline: {path.why}")
    return FeatureState(name, "live", f"answers through aibot; results with @mentions ({path.why})")


def quiz_features(config: Config, group: GroupConfig) -> list[FeatureState]:
    return [quiz(config, group)]
