"""What a transport is, and how it says a delivery failed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

# Query parameters that carry a secret: a robot's webhook key, the access token, the app secret, one-shot codes.
_SECRET_PARAM = re.compile(
    r"((?:^|[?&\s'\"(,;])(?:key|access_token|corpsecret|secret|code|auth_code|debug_code|response_code)=)"
    r"[^&\s'\"),;]+",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """Replace the value of every secret-bearing query parameter in `text` (URLs, exception messages) with ***."""
    return _SECRET_PARAM.sub(r"\1***", text)


@dataclass(frozen=True)
class OutgoingMessage:
    id: int
    channel: str
    target_kind: str
    target: str
    payload: dict[str, Any]
    attempts: int
    # When the row started waiting for the guide's sidebar; None while it never has.
    waiting_since: datetime | None = None


class DeliveryError(Exception):
    """A send that did not go through.

    `transient` errors are retried with backoff (optionally not before `retry_after` seconds);
    the others park the row as failed at once, with a message saying what to fix. The message is stored
    in outbox.last_error and logged, so query-string secrets in it (a URL from requests) are redacted.

    `refused` says WeCom certainly did not take the message (it answered with an error, or the message was
    never posted), so the rate-limit budget spent on it is given back; after a timeout or a dropped
    connection WeCom may have taken it, so the unit stays spent.
    """

    def __init__(
        self,
        message: str,
        *,
        transient: bool,
        retry_after: float | None = None,
        refused: bool = False,
        errcode: int | None = None,
    ):
        super().__init__(redact(message))
        self.transient = transient
        self.retry_after = retry_after
        self.refused = refused
        self.errcode = errcode  # WeCom's answer, when it gave one: callers branch on it, not on the text


class Deferred(Exception):  # not an error: the row waits and no attempt is spent
    """Not now: a spent rate-limit budget or quiet hours; the row waits until `until` without losing an attempt.

    `backlog` says every other pending row for the same channel and target has to wait too (a spent budget),
    so the drainer moves them all at once instead of claiming each just to be told the same.
    """

    def __init__(self, until: datetime, reason: str, *, backlog: bool = False):
        super().__init__(reason)
        self.until = until
        self.backlog = backlog


class WaitForGuide(Exception):  # not an error: the guide sends it by hand, or it goes on at `until`
    """Hold the row for the guide's sidebar until `until`; no attempt is spent."""

    def __init__(self, until: datetime, reason: str):
        super().__init__(reason)
        self.until = until


class Transport(Protocol):
    name: str

    def send(self, message: OutgoingMessage) -> None:
        """Deliver the message or raise DeliveryError."""
        ...


def exponential_backoff(attempts: int, base_seconds: float, max_seconds: float) -> float:
    """Seconds before the next try after `attempts` failures: base, doubled each time, capped (no jitter)."""
    return float(min(max_seconds, base_seconds * (2 ** max(attempts - 1, 0))))
