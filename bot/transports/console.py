"""Print messages instead of sending them: the embedded default for local use and rehearsal."""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from bot.transports.base import DeliveryError, OutgoingMessage


class ConsoleTransport:
    name = "console"

    def __init__(self, stream: TextIO | None = None):
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, message: OutgoingMessage) -> None:
        mentions = " ".join(f"@{m}" for m in message.payload.get("mentions") or [])
        text = message.payload.get("content", "")
        line = f"→ {message.target}: {mentions + ' ' if mentions else ''}{text}\n"
        stream = self._stream or sys.stdout
        try:
            with self._lock:
                stream.write(line)
                stream.flush()
        except OSError as exc:
            raise DeliveryError(f"console write failed: {exc}", transient=True) from exc
