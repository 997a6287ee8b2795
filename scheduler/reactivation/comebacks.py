"""A member who speaks again ends their dormant spell: the reactivation report counts the comeback."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bot.config.core import Config
from bot.context import Observed
from bot.events import Event
from bot.registry import observer
from models.nudge import note_comeback


@observer(order=50)
def note_comebacks(session: Session, event: Event, config: Config, now: datetime, observed: Observed) -> Observed:
    """Mark the sender's open ladder records answered in each chat where their activity just moved."""
    if event.user_id:
        for chat_id in observed.active_in:
            note_comeback(session, chat_id=chat_id, user_id=event.user_id, at=event.at)
    return observed
