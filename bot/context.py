"""Everything a handler may use, in one frozen object."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.config import Config, Role
from bot.events import Event
from bot.registry import Registry
from models.membership import Observed


@dataclass(frozen=True)
class Actor:
    """Who sent the event and the role the YAML gives them."""

    user_id: str | None
    role: Role


@dataclass(frozen=True)
class ChatRef:
    """The group the event happened in; None for 1:1 conversations."""

    chat_id: str


@dataclass(frozen=True)
class Context:
    session: Session
    config: Config
    clock: Clock
    event: Event
    member: Actor
    chat: ChatRef | None
    registry: Registry
    # What this event changed in group membership (joins, leaves), observed before routing.
    membership: Observed = field(default_factory=Observed)
    # Set by a handler that counted this text as its own kind of activity (a quiz answer), so the
    # dispatcher does not count it a second time as a chat message.
    _counted: list[bool] = field(default_factory=list, repr=False)

    def now(self) -> datetime:
        return self.clock.now()

    def counted_as_activity(self) -> None:
        """Say that this event's text was recorded as activity of its own kind, not as chat."""
        self._counted.append(True)

    @property
    def activity_counted(self) -> bool:
        return bool(self._counted)

    def text(self, key: str, /, **fields: Any) -> str:
        """Render the admin's sentence `key`."""
        return self.config.texts.render(key, **fields)
