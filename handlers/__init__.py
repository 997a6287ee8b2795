"""One module per capability; importing a module registers its commands and reactions."""

from __future__ import annotations

import importlib

from bot.registry import REGISTRY, Registry

MODULES = (
    "handlers.help",
    "handlers.keywords",
    "handlers.welcome",
    "handlers.rules",
    "handlers.members_report",
    "handlers.checkin",
    "handlers.points",
    "handlers.points_admin",
    "handlers.redeem",
    "handlers.quiz",
    "handlers.groupbuy",
)


def load_handlers() -> Registry:
    """Import every handler module (idempotent) and return the registry they filled."""
    for name in MODULES:
        importlib.import_module(name)
    return REGISTRY
