"""Everything a handler may use, in one frozen object, and what observers saw of the event first."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.config.core import Config, Role
from bot.events import Event

if TYPE_CHECKING:
    from bot.registry import Registry


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
class Observed:
    """What one event changed before it was routed: who joined or left, where the sender became active."""

    joined: tuple[str, ...] = ()
    left: tuple[str, ...] = ()
    dismissed: bool = False
    detail: str = ""
    # Chats in which the sender's last activity moved forward with this event.
    active_in: tuple[str, ...] = ()


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

    def now(self) -> datetime:
        return self.clock.now()

    def text(self, key: str, /, **fields: Any) -> str:
        """Render the admin's sentence `key`."""
        return self.config.texts.render(key, **fields)
