"""The running service's view of the config file: re-read on change, last good version kept on error."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from bot.config.core import Config
from bot.config.loader import ConfigError

log = logging.getLogger(__name__)


class ConfigHolder:
    def __init__(self, path: str | Path, loader: Callable[[Path], Config]):
        self.path = Path(path)
        self._loader = loader
        self._lock = threading.Lock()
        self._fingerprint = self._stat()
        self._config = loader(self.path)  # the first load must succeed: there is no good version yet
        self.last_error: ConfigError | None = None

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def current(self) -> Config:
        """Return the newest valid config, re-reading the file if it changed since the last look."""
        fingerprint = self._stat()
        if fingerprint == self._fingerprint:
            return self._config
        with self._lock:
            if fingerprint == self._fingerprint:
                return self._config
            self._fingerprint = fingerprint
            if fingerprint is not None and fingerprint[1] == 0:
                # Editors that truncate before writing expose an empty file for a moment; all-defaults
                # would strip every role and keyword, so an empty file is never taken as an edit.
                log.warning("config %s is empty; keeping the last good version", self.path)
                return self._config
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
            if config.database_url != self._config.database_url:
                log.warning("database_url changed in %s; restart the service to use it", self.path)
            self._config = config
            self.last_error = None
            log.info("config %s reloaded", self.path)
            return config


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
