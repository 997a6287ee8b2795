"""Leadership through the database lease: exactly one scheduler acts, a standby takes over when it lapses."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.config.core import Config
from models import scheduler_lease
from scheduler.config import SCHEDULER_SECTION

log = logging.getLogger(__name__)

LEASE_NAME = "scheduler"


def holder_name() -> str:
    """A name unique to this process run (a restarted process is a new holder): host, pid and a nonce."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:128]


class Leadership:
    """Take, renew and give back the lease; `ensure()` answers "may I act now?"."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        config: Callable[[], Config],
        clock: Clock,
        *,
        holder: str | None = None,
        name: str = LEASE_NAME,
        lease_seconds: Callable[[], float] | None = None,
    ):
        self._session_factory = session_factory
        self._config = config
        self._clock = clock
        self.holder = holder or holder_name()
        self.name = name
        # Another role (the aibot long connection) reuses the lease under its own name and length.
        self._lease_seconds = lease_seconds or (lambda: SCHEDULER_SECTION.of(self._config()).lease_seconds)
        self._leading = False
        self._looked = False
        self._lock = threading.Lock()

    @property
    def leading(self) -> bool:
        """Whether the last look at the lease found this process leading."""
        return self._leading

    def ensure(self) -> bool:
        """Take or renew the lease; True when this process leads until now + lease_seconds."""
        lease = timedelta(seconds=self._lease_seconds())
        with self._lock:
            try:
                with self._session_factory.begin() as session:
                    won = scheduler_lease.acquire(session, self.name, self.holder, self._clock.now(), lease)
            except Exception:
                # Unable to renew means unable to prove leadership: stand down rather than risk two leaders.
                log.exception("could not renew the %s lease; standing by", self.name)
                won = False
            if won != self._leading or not self._looked:
                log.info("%s %s %s", self.name, self.holder, "now leads" if won else "is standing by")
            self._leading, self._looked = won, True
            return won

    def release(self) -> None:
        """Give the lease back at once so a standby need not wait for it to lapse."""
        with self._lock:
            try:
                with self._session_factory.begin() as session:
                    released = scheduler_lease.release(session, self.name, self.holder, self._clock.now())
            except Exception:
                log.exception("could not release the %s lease; it lapses by itself", self.name)
                released = False
            if released:
                log.info("%s %s released the lease", self.name, self.holder)
            self._leading = False
