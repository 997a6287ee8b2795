"""The running service's view of the config file: re-read on change, last good version kept on error."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bot.config.core import Config
from bot.config.guard import HeldEdit, dropped_sections, file_digest, is_accepted, publish_held, read_held
from bot.config.loader import ConfigError

log = logging.getLogger(__name__)


class ConfigHolder:
    def __init__(self, path: str | Path, loader: Callable[[Path], Config], *, settle_seconds: float = 1.0):
        self.path = Path(path)
        self._loader = loader
        self._settle = settle_seconds
        self._lock = threading.Lock()
        self._fingerprint = self._stat()
        self._config = loader(self.path)  # the first load must succeed: there is no good version yet
        self.last_error: ConfigError | None = None
        # A file seen changed: its fingerprint and when it was first seen so (monotonic seconds).
        self._changing: tuple[tuple[int, int, int] | None, float] | None = None
        self.held: HeldEdit | None = None
        self._held_config: Config | None = None
        if read_held(self.path) is not None:  # a note about the very file just applied is out of date
            publish_held(self.path, None)

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def current(self) -> Config:
        """Return the newest valid config, re-reading the file once it has stopped changing."""
        fingerprint = self._stat()
        if fingerprint == self._fingerprint and self.held is None:
            return self._config
        with self._lock:
            if fingerprint == self._fingerprint:
                if self.held is not None and is_accepted(self.path, self.held.digest):
                    self._apply(self._held_config or self._config, dropped=self.held.dropped)
                return self._config
            if not self._settled(fingerprint):
                return self._config
            self._fingerprint = fingerprint
            if self.held is not None:  # a newer edit replaces the held one, whatever becomes of it
                self.held = self._held_config = None
                publish_held(self.path, None)
            if fingerprint is not None and fingerprint[1] == 0:
                # Editors that truncate before writing expose an empty file for a moment; all-defaults
                # would strip every role and keyword, so an empty file is never taken as an edit.
                log.warning("config %s is empty; keeping the last good version", self.path)
                return self._config
            digest = file_digest(self.path)
            try:
                config = self._loader(self.path)
            except ConfigError as exc:
                self.last_error = exc
                log.error(
                    "config %s is invalid; keeping the last good version:\n%s",
                    self.path,
                    "\n".join(map(str, exc.problems)),
                )
                return self._config
            if self._stat() != fingerprint or digest is None:
                self._fingerprint = None  # written to while being read: look again once it settles
                return self._config
            self.last_error = None
            dropped = dropped_sections(self._config, config)
            if dropped and not is_accepted(self.path, digest):
                self.held, self._held_config = HeldEdit(digest, dropped), config
                publish_held(self.path, self.held)
                log.warning("config %s held back: %s", self.path, self.held.describe())
                return self._config
            self._apply(config, dropped=dropped)
            return config

    def _settled(self, fingerprint: tuple[int, int, int] | None) -> bool:
        """Tell whether the file has kept this size and mtime for the settle time (a writer may be mid-way)."""
        now = time.monotonic()
        if self._changing is None or self._changing[0] != fingerprint:
            self._changing = (fingerprint, now)
        return now - self._changing[1] >= self._settle

    def _apply(self, config: Config, *, dropped: tuple[str, ...] = ()) -> None:
        if config.database_url != self._config.database_url:
            log.warning("database_url changed in %s; restart the service to use it", self.path)
        if dropped:
            log.warning("config %s: accepted edit applied; %s emptied", self.path, ", ".join(dropped))
        self._config = config
        self.held = self._held_config = None
        publish_held(self.path, None)
        log.info("config %s reloaded", self.path)


class ConfigWatcher:
    """Look at the file every few seconds, so an edit is applied (or its error logged) before the next message."""

    def __init__(self, holder: ConfigHolder, interval: float = 2.0):
        self._holder = holder
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="config-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self._interval + 1)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._holder.current()
            except Exception:  # the watcher must outlive any surprise in the loader
                log.exception("config watcher could not check %s", self._holder.path)
