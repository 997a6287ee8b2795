"""The callback being served in this thread: its request id and what came of its event, for the log line."""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass
class CallbackRecord:
    request_id: str
    channel: str
    started: float = field(default_factory=time.monotonic)
    dedup_key: str | None = None
    chat_id: str | None = None
    user_id: str | None = None
    outcome: str | None = None  # handled | duplicate, once the dispatcher has seen the event


CURRENT: ContextVar[CallbackRecord | None] = ContextVar("groupbot_callback", default=None)


def current() -> CallbackRecord | None:
    """The callback this thread is serving, if any."""
    return CURRENT.get()


def note_event(*, dedup_key: str, chat_id: str | None, user_id: str | None, outcome: str) -> None:
    """Record on the current callback (if any) which event it carried and what the dispatcher made of it."""
    record = CURRENT.get()
    if record is not None:
        record.dedup_key, record.chat_id, record.user_id, record.outcome = dedup_key, chat_id, user_id, outcome
