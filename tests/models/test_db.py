"""Engines: a dropped PostgreSQL connection costs a request nothing; SQLite writers queue, one at a time."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine, make_url

from bot.app import create_app
from bot.clock import FrozenClock
from bot.services import build_services
from models.db import make_engine, make_session_factory
from models.outbox import OutboxMessage
from models.processed_event import ProcessedEvent
from tests import factories
from tests.conftest import base_config, write_yaml


def _count(engine: Engine, model: type) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(model)) or 0)


def test_a_callback_on_a_connection_the_server_dropped_is_answered_once(
    pg_engine: Engine, pg_url: str, tmp_path: Path, clock: FrozenClock
) -> None:
    """PostgreSQL restarted (or a proxy cut idle connections): the next callback still gets its answer, once."""
    engine = make_engine(pg_url, pool_size=1, max_overflow=0)
    config = write_yaml(tmp_path / "config.yaml", base_config(pg_url))
    services = build_services(
        str(config), registry=factories.load_handlers(), clock=clock, engine=engine, config_settle_seconds=0
    )
    client = create_app(services).test_client()
    sender = factories.app_sender()

    def say(content: str) -> int:
        signed = sender.xml_post(factories.app_text(content, create_time=int(clock.now().timestamp())))
        return client.post(f"/wecom/callback?{signed.query_string}", data=signed.body).status_code

    assert say("帮助") == 200
    with engine.connect() as conn:  # the pool's one connection
        pid = conn.scalar(text("SELECT pg_backend_pid()"))
    conninfo = make_url(pg_url).set(drivername="postgresql", query={}).render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    time.sleep(0.2)  # the server closes the socket a moment after the call returns

    assert say("帮助") == 200
    assert _count(pg_engine, ProcessedEvent) == 2
    assert _count(pg_engine, OutboxMessage) == 2
    engine.dispose()


def test_sqlite_writers_wait_for_each_other_and_all_commit(tmp_path: Path) -> None:
    """While one transaction is open a second waits (no error, no busy loop to give up), then commits after it."""
    engine = make_engine(f"sqlite:///{tmp_path / 'lock.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE counter (n INTEGER NOT NULL)")
        conn.exec_driver_sql("INSERT INTO counter VALUES (0)")
    factory = make_session_factory(engine)
    order: list[str] = []
    first_open = threading.Event()
    release = threading.Event()

    def first() -> None:
        with factory.begin() as session:
            session.execute(text("UPDATE counter SET n = n + 1"))
            first_open.set()
            release.wait(10)
            order.append("first")

    def second() -> None:
        first_open.wait(10)
        with factory.begin() as session:
            session.execute(text("UPDATE counter SET n = n * 10"))
            order.append("second wrote")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_open.wait(10)
    time.sleep(0.3)
    assert order == []  # the second writer is still queued behind the first
    release.set()
    for thread in threads:
        thread.join(10)
    assert order == ["first", "second wrote"]
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT n FROM counter")) == 10
    engine.dispose()
