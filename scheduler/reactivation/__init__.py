"""Reactivation: a ladder of nudges for members gone quiet, with caps, quiet hours and a holdout."""

from __future__ import annotations

from bot.registry import Capability
from scheduler.reactivation import comebacks
from scheduler.reactivation.cli import reactivation, reactivation_report
from scheduler.reactivation.config import REACTIVATION_SECTION
from scheduler.reactivation.features import reactivation_features

CAPABILITY = Capability(
    name="reactivation",
    modules=(comebacks,),
    section=REACTIVATION_SECTION,
    texts="scheduler.reactivation",
    cli=(reactivation,),
    reports=(reactivation_report,),
    features=(reactivation_features,),
)
