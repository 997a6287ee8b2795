"""Several drainers against the fake WeCom: each row reaches WeCom once, and a killed drainer loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import FrozenClock, SystemClock
from bot.config.core import OutboxConfig
from bot.transports.drainer import drain_once
from bot.transports.wecom import build_wecom_transport
from models import OutboxMessage
from models import outbox as outbox_rows
from models.db import make_session_factory
from tests.bot.transports.conftest import wecom_config
from tests.fake_wecom import FakeWecom
from tests.parallel import run_together

ROOT = Path(__file__).resolve().parents[3]


def queue(factory: sessionmaker[Session], clock: FrozenClock, count: int) -> None:
    with factory.begin() as session:
        for i in range(count):
            outbox_rows.add_message(
                session,
                channel="app_message",
                target_kind="user",
                target=f"staff{i % 50}",
                payload={"msgtype": "text", "content": f"消息 {i}", "mentions": []},
                now=clock.now(),
            )


def all_rows(factory: sessionmaker[Session]) -> list[OutboxMessage]:
    with factory() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def delivered(fake: FakeWecom) -> Counter[str]:
    return Counter(b["text"]["content"] for b in fake.bodies("message/send") if b)


@pytest.mark.postgres_only
def test_two_drainers_send_1000_rows_exactly_once_on_postgresql(
    pg_engine: Engine, fake_wecom: FakeWecom, clock: FrozenClock
) -> None:
    """Two drainers, each with its own transport and connections, share 1,000 rows: WeCom gets each exactly once."""
    factory = make_session_factory(pg_engine)
    queue(factory, clock, 1000)
    config = wecom_config(fake_wecom, limits={"enabled": False})
    settings = OutboxConfig(batch_size=20)
    sent_by: Counter[str] = Counter()

    def run(index: int) -> None:
        name = f"drainer-{index}"
        own = make_session_factory(pg_engine)
        transport = build_wecom_transport(lambda: config, own, clock)
        for _ in range(1000):
            report = drain_once(own, transport, settings, clock, worker=name)
            sent_by[name] += report.sent
            if report.claimed == 0:
                break

    run_together(2, run)
    counts = delivered(fake_wecom)
    assert len(counts) == 1000 and set(counts.values()) == {1}
    rows = all_rows(factory)
    assert {r.status for r in rows} == {"sent"} and {r.attempts for r in rows} == {1}
    # Both really took part: otherwise this would prove nothing about two drainers.
    assert sent_by["drainer-0"] > 0 and sent_by["drainer-1"] > 0
    assert sent_by["drainer-0"] + sent_by["drainer-1"] == 1000


DOOMED_DRAINER = """
import sys
from bot.clock import SystemClock
from bot.config.core import OutboxConfig
from bot.transports.drainer import drain_once
from bot.transports.wecom import build_wecom_transport
from models.db import make_engine, make_session_factory
from tests.fake_wecom import FakeWecom
from tests.bot.transports.conftest import wecom_config

config = wecom_config(FakeWecom(base_url=sys.argv[2]), limits={"enabled": False})
factory = make_session_factory(make_engine(sys.argv[1]))
transport = build_wecom_transport(lambda: config, factory, SystemClock())
drain_once(factory, transport, OutboxConfig(batch_size=10), SystemClock(), worker="doomed")
"""


def test_killed_drainers_rows_are_delivered_after_the_reclaim_timeout(
    engine: Engine, fake_wecom: FakeWecom, clock: FrozenClock
) -> None:
    """A drainer process killed (SIGKILL) while a send hangs leaves its rows in `sending`; after
    reclaim_after another drainer delivers every one of them (the in-flight one possibly twice)."""
    factory = make_session_factory(engine)
    queue(factory, clock, 10)
    fake_wecom.fail_next("message/send", delay=30)  # the first send hangs until the process is killed
    url = engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", DOOMED_DRAINER, url, fake_wecom.base_url], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 30
        while not fake_wecom.calls_to("message/send") and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert fake_wecom.calls_to("message/send"), "the doomed drainer never started sending"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    claimed = all_rows(factory)
    assert {(r.status, r.claimed_by) for r in claimed} == {("sending", "doomed")}

    settings = OutboxConfig(batch_size=50, reclaim_after_seconds=120)
    survivor = build_wecom_transport(lambda: wecom_config(fake_wecom, limits={"enabled": False}), factory, clock)
    killed_at = SystemClock().now()
    clock.set(killed_at + timedelta(seconds=settings.reclaim_after_seconds - 5))
    assert drain_once(factory, survivor, settings, clock, worker="survivor").claimed == 0
    clock.set(killed_at + timedelta(seconds=settings.reclaim_after_seconds + 5))
    report = drain_once(factory, survivor, settings, clock, worker="survivor")
    assert report.sent == 10

    rows = all_rows(factory)
    assert {(r.status, r.claimed_by, r.attempts) for r in rows} == {("sent", "survivor", 2)}
    counts = delivered(fake_wecom)
    assert set(counts) == {f"消息 {i}" for i in range(10)}
    # At-least-once: only the message whose send was in flight when the process died reached WeCom twice.
    assert sorted(counts.values()) == [1] * 9 + [2]
