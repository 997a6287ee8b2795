"""The running service's view of the config file: re-read on change, last good version kept on error."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from bot.config import Config
from bot.config_loader import ConfigError

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
