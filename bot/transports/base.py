"""What a transport is, and how it says a delivery failed."""

from __future__ import annotations

from dataclasses import dataclass
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


class Transport(Protocol):
    name: str

    def send(self, message: OutgoingMessage) -> None:
        """Deliver the message or raise DeliveryError."""
        ...
