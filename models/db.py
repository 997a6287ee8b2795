"""Engines and sessions: SQLite in WAL with serialised writers, or PostgreSQL through psycopg 3."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine, event, exc
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain postgresql:// URLs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for `url` with the settings the invariants rely on."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        connect_args: dict[str, Any] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        if database and database != ":memory:":
            connect_args["factory"] = _writer_lock_connection(f"{Path(database).expanduser()}-writer.lock")
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        _serialise_sqlite_writers(engine)
        return engine
    # No pre-ping: it costs every request a round trip. A connection the server dropped fails its
    # first statement instead, SQLAlchemy then discards the pool, and `retry_if_disconnected` runs the
    # transaction once more on a fresh connection.
    kwargs.setdefault("pool_pre_ping", False)
    return create_engine(url, **kwargs)


def retry_if_disconnected(work: Callable[[], T]) -> T:
    """Run `work` (one whole transaction); run it once more if the database connection had been dropped.

    Only a dropped connection is retried: its transaction cannot have committed, so running it
    again cannot apply anything twice.
    """
    try:
        return work()
    except exc.DBAPIError as error:
        if not error.connection_invalidated:
            raise
    return work()


def _writer_lock_connection(lock_path: str) -> type[sqlite3.Connection]:
    """A sqlite3 connection class whose transactions hold an exclusive lock on `lock_path` while open.

    SQLite's own busy handler sleeps in steps of up to 25 ms inside BEGIN IMMEDIATE, so two
    processes were slower than one. Waiting on this lock instead starts the next writer within 0.5 ms of
    the commit; each connection opens its own descriptor, so threads and processes queue alike.
    """

    class WriterLockConnection(sqlite3.Connection):
        _lock_fd: int | None = None
        _locked = False

        def lock_for_write(self) -> None:
            if self._lock_fd is None:
                self._lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            if self._locked:
                return
            # Short naps rather than one blocking call: the wait stays bounded by the busy timeout (a
            # writer that never commits gives "database is locked", as before, not a hang), and the
            # next writer still starts within half a millisecond of the commit.
            deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
            nap = 0.0001
            while True:
                try:
                    fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise sqlite3.OperationalError("database is locked") from None
                    time.sleep(nap)
                    nap = min(nap * 2, 0.0005)
            self._locked = True

        def _unlock(self) -> None:
            if self._locked and self._lock_fd is not None:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
                self._locked = False

        def commit(self) -> None:
            try:
                super().commit()
            finally:
                self._unlock()

        def rollback(self) -> None:
            try:
                super().rollback()
            finally:
                self._unlock()

        def close(self) -> None:
            try:
                super().close()
            finally:
                self._unlock()
                if self._lock_fd is not None:
                    os.close(self._lock_fd)
                    self._lock_fd = None

    return WriterLockConnection


def _serialise_sqlite_writers(engine: Engine) -> None:
    # SQLite ignores SELECT ... FOR UPDATE; BEGIN IMMEDIATE takes the write lock up front so two
    # transactions can never both read-then-write the same row. pysqlite's own BEGIN is disabled.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        lock = getattr(connection.connection.dbapi_connection, "lock_for_write", None)
        if lock is not None:
            lock()
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            connection.connection.dbapi_connection.rollback()
            raise


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)
