"""What a transport is, and how it says a delivery failed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class OutgoingMessage:
    id: int
    channel: str
    target_kind: str
    target: str
    payload: dict[str, Any]
    attempts: int


class DeliveryError(Exception):
    """A send that did not go through.

    `transient` errors are retried with backoff (optionally not before `retry_after` seconds);
    the others park the row as failed at once, with a message saying what to fix.
    """

    def __init__(self, message: str, *, transient: bool, retry_after: float | None = None):
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after


class Deferred(Exception):  # not an error: the row waits and no attempt is spent
    """Not now: a spent rate-limit budget or quiet hours; the row waits until `until` without losing an attempt.

    `backlog` says every other pending row for the same channel and target has to wait too (a spent budget),
    so the drainer moves them all at once instead of claiming each just to be told the same.
    """

    def __init__(self, until: datetime, reason: str, *, backlog: bool = False):
        super().__init__(reason)
        self.until = until
        self.backlog = backlog


class Transport(Protocol):
    name: str

    def send(self, message: OutgoingMessage) -> None:
        """Deliver the message or raise DeliveryError."""
        ...
