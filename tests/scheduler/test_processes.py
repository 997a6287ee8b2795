"""Real processes: `groupbot scheduler` twice against one database, SIGTERM and SIGKILL, serve and the wsgi entry."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from models import OutboxMessage, SchedulerLease, migrate
from models.db import make_engine, make_session_factory
from tests.bot.test_serve import free_port, groupbot_command, http, wait_until
from tests.conftest import write_yaml
from tests.scheduler.harness import SHANGHAI

LEASE_SECONDS = 6
RENEW_SECONDS = 1


def process_config(tmp_path: Path, database_url: str, calendar: list[dict[str, Any]]) -> Path:
    data = {
        "timezone": "Asia/Shanghai",
        "database_url": database_url,
        "groups": [
            {"chat_id": "wr-a", "name": "一群", "push": "console"},
            {"chat_id": "wr-b", "name": "二群", "push": "console"},
        ],
        "outbound": {"quiet_hours": {"enabled": False}},
        "scheduler": {"lease_seconds": LEASE_SECONDS, "renew_seconds": RENEW_SECONDS, "tick_seconds": 1},
        "calendar": calendar,
    }
    return write_yaml(tmp_path / "config.yaml", data)


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GROUPBOT_DATABASE_URL", "GROUPBOT_CONFIG")}
    env.update(GROUPBOT_LOG_LEVEL="INFO", PYTHONUNBUFFERED="1")
    return env


class Child:
    def __init__(self, args: list[str], cwd: Path):
        self.log = cwd / f"child-{time.monotonic_ns()}.log"
        self._file = self.log.open("w")
        self.proc = subprocess.Popen(
            [*groupbot_command(), *args], cwd=cwd, env=environment(), stdout=self._file, stderr=subprocess.STDOUT
        )

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=20)
        finally:
            self._file.close()
        return code


@pytest.fixture
def children() -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:
        if child.proc.poll() is None:
            child.proc.kill()
            child.proc.wait(timeout=10)


def lease(engine: Engine) -> SchedulerLease | None:
    with make_session_factory(engine)() as session:
        return session.scalars(select(SchedulerLease)).first()


def group_posts(engine: Engine) -> list[str]:
    with make_session_factory(engine)() as session:
        return sorted(session.scalars(select(OutboxMessage.target).where(OutboxMessage.channel == "group")))


def seed_cursor(engine: Engine, at: datetime) -> None:
    from models import calendar_delivery

    with make_session_factory(engine).begin() as session:
        calendar_delivery.advance(session, "calendar", at)


def test_two_scheduler_processes_post_once_and_the_standby_takes_over_when_the_leader_dies(
    tmp_path: Path, engine: Engine, database_url: str, children: list[Child]
) -> None:
    """Both processes sweep a slot two minutes old; one post per group. Killing the leader hands the lease over."""
    now = datetime.now(UTC)
    slot = (now - timedelta(minutes=2)).astimezone(SHANGHAI)
    entry = {
        "id": "now",
        "when": {"date": slot.date().isoformat(), "time": slot.strftime("%H:%M")},
        "to": {"all": True},
        "content": {"text": "两个进程，只发一次"},
    }
    config = process_config(tmp_path, database_url, [entry])
    seed_cursor(engine, now - timedelta(minutes=10))  # the scheduler ran before and was down for ten minutes
    for _ in range(2):
        children.append(Child(["scheduler", "--config", str(config)], tmp_path))

    wait_until(lambda: len(group_posts(engine)) >= 2, "the slot to be queued")
    time.sleep(3 * RENEW_SECONDS)  # both processes keep sweeping; nothing more may be queued
    assert group_posts(engine) == ["wr-a", "wr-b"]

    held = lease(engine)
    assert held is not None
    pids = {child.proc.pid: child for child in children}
    leader_pid = int(held.holder.split(":")[1])
    assert leader_pid in pids
    standby = next(child for pid, child in pids.items() if pid != leader_pid)
    pids[leader_pid].stop(signal.SIGKILL)  # dies without releasing the lease
    killed_at = time.monotonic()

    def standby_leads() -> bool:
        row = lease(engine)
        return row is not None and int(row.holder.split(":")[1]) == standby.proc.pid

    wait_until(standby_leads, "the standby to take the lease", timeout=LEASE_SECONDS + RENEW_SECONDS + 10)
    assert time.monotonic() - killed_at <= LEASE_SECONDS + RENEW_SECONDS + 5
    assert group_posts(engine) == ["wr-a", "wr-b"]

    # SIGTERM: a clean stop that gives the lease back at once.
    assert standby.stop(signal.SIGTERM) == 0, standby.output()
    released = lease(engine)
    assert released is not None and released.expires_at <= datetime.now(UTC)
    assert "released the lease" in standby.output()


@pytest.fixture
def own_sqlite(tmp_path: Path) -> Iterator[tuple[Engine, str]]:
    """A migrated SQLite file of the test's own (the process wiring is the same on both backends)."""
    url = f"sqlite:///{tmp_path}/own.db"
    own = make_engine(url)
    migrate.upgrade(own)
    yield own, url
    own.dispose()


def test_serve_runs_the_scheduler_unless_told_not_to(
    tmp_path: Path, own_sqlite: tuple[Engine, str], children: list[Child]
) -> None:
    engine, database_url = own_sqlite
    config = process_config(tmp_path, database_url, [])
    port = free_port()
    quiet = Child(["serve", "--config", str(config), "--port", str(port), "--no-scheduler"], tmp_path)
    children.append(quiet)
    wait_until(lambda: _healthy(port), "serve --no-scheduler to answer /healthz")
    time.sleep(3 * RENEW_SECONDS)
    assert lease(engine) is None
    assert quiet.stop() == 0
    assert "scheduler.runner" not in quiet.output() and "now leads" not in quiet.output()

    port = free_port()
    serving = Child(["serve", "--config", str(config), "--port", str(port)], tmp_path)
    children.append(serving)
    wait_until(lambda: _healthy(port), "serve to answer /healthz")
    wait_until(lambda: lease(engine) is not None, "serve's scheduler to take the lease")
    assert "now leads" in serving.output()
    assert serving.stop() == 0
    released = lease(engine)
    assert released is not None and released.expires_at <= datetime.now(UTC)


def test_the_gunicorn_entry_point_never_starts_a_scheduler(tmp_path: Path, own_sqlite: tuple[Engine, str]) -> None:
    engine, database_url = own_sqlite
    config = process_config(tmp_path, database_url, [])
    probe = (
        "import threading, time, bot.wsgi\n"
        "time.sleep(2)\n"
        "print(sorted(t.name for t in threading.enumerate()))\n"
        "import sys; print('scheduler.runner' in sys.modules)\n"
    )
    env = {**environment(), "GROUPBOT_CONFIG": str(config)}
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    threads, imported = result.stdout.splitlines()[-2:]
    assert threads == "['MainThread']" and imported == "False"
    assert lease(engine) is None


def _healthy(port: int) -> bool:
    try:
        status, _ = http(f"http://127.0.0.1:{port}/healthz")
    except OSError:
        return False
    return status == 200
