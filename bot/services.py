"""The long-lived objects one process shares: config, database, router, dispatcher.

The registry comes from the composition root (the CLI entry or wsgi), the only places that know
the list of capabilities; everything in `bot/` learns of them through the `Registry`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.config.core import Config
from bot.config.holder import ConfigHolder
from bot.dispatch import Dispatcher
from bot.registry import Registry
from bot.router import Router
from models.db import make_engine, make_session_factory


@dataclass
class Services:
    holder: ConfigHolder
    engine: Engine
    session_factory: sessionmaker[Session]
    router: Router
    dispatcher: Dispatcher
    clock: Clock

    @property
    def registry(self) -> Registry:
        return self.router.registry

    def config(self) -> Config:
        return self.holder.current()


def build_services(
    config_path: str,
    *,
    registry: Registry,
    clock: Clock,
    engine: Engine | None = None,
    on_queued: Callable[[], None] | None = None,
    config_settle_seconds: float = 1.0,
) -> Services:
    """Load the config and wire the database, router and dispatcher."""
    holder = ConfigHolder(config_path, registry.load_config, settle_seconds=config_settle_seconds)
    engine = engine or make_engine(holder.current().database_url)
    session_factory = make_session_factory(engine)
    router = Router(registry)
    dispatcher = Dispatcher(
        session_factory=session_factory, config=holder.current, clock=clock, router=router, on_queued=on_queued
    )
    return Services(holder, engine, session_factory, router, dispatcher, clock)
