"""On PostgreSQL with real parallel connections: pullers never handle a message twice, and a dead one loses nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from bot.clock import FrozenClock
from bot.services import build_services
from bot.transports.wecom import build_wecom_transport
from handlers.kf import KfPuller
from models import OutboxMessage, ProcessedEvent
from models import kf as kf_rows
from models.checkin import Checkin
from tests.conftest import write_yaml
from tests.factories import load_handlers
from tests.fake_wecom import FakeWecom
from tests.handlers.kf.harness import KFID, kf_config
from tests.parallel import run_together

MESSAGES = 1000


def _pullers(tmp_path: Path, engine: Engine, pg_url: str, fake: FakeWecom, clock: FrozenClock, count: int) -> list[Any]:
    fake.kf_account(KFID)
    fake.now = lambda: clock.now().timestamp()
    path = write_yaml(tmp_path / "config.yaml", kf_config(pg_url, fake, pull_limit=100))
    services = build_services(str(path), registry=load_handlers(), clock=clock, engine=engine, config_settle_seconds=0)
    out = []
    for index in range(count):
        api = build_wecom_transport(services.config, services.session_factory, clock).api
        out.append(
            KfPuller(
                api,
                services.session_factory,
                services.config,
                clock,
                services.dispatcher.handle,
                worker=f"puller-{index}",
            )
        )
    return out


def _customers_say(fake: FakeWecom) -> None:
    for index in range(MESSAGES):
        fake.customer_says(KFID, f"wmc{index % 250:05d}", "签到" if index < 250 else f"你好 {index}")


def _count(engine: Engine, stmt: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def test_two_pullers_over_a_thousand_messages_handle_each_exactly_once(
    tmp_path: Path, wide_pg: Engine, pg_url: str, fake_wecom: FakeWecom, clock: FrozenClock
) -> None:
    pullers = _pullers(tmp_path, wide_pg, pg_url, fake_wecom, clock, 2)
    _customers_say(fake_wecom)

    reports = run_together(2, lambda i: pullers[i].run_pass(everything=True))

    assert sum(r.pulled for r in reports) == MESSAGES  # each page stored by exactly one of them
    assert sum(r.handled for r in reports) == MESSAGES  # each message handled by exactly one of them
    assert sum(r.duplicates for r in reports) == 0
    assert (
        _count(wide_pg, select(func.count()).select_from(ProcessedEvent).where(ProcessedEvent.source == "kf"))
        == MESSAGES
    )
    # One answer per message, and one check-in per customer (250 of them checked in once each).
    assert _count(wide_pg, select(func.count()).select_from(OutboxMessage)) == MESSAGES
    assert _count(wide_pg, select(func.count()).select_from(Checkin)) == 250
    with wide_pg.connect() as conn:
        cursor = conn.execute(select(kf_rows.KfCursor.cursor)).scalar_one()
    assert cursor == f"c{MESSAGES}"


def test_a_puller_killed_mid_batch_loses_nothing_and_repeats_nothing(
    tmp_path: Path, wide_pg: Engine, pg_url: str, fake_wecom: FakeWecom, clock: FrozenClock
) -> None:
    first, second = _pullers(tmp_path, wide_pg, pg_url, fake_wecom, clock, 2)
    _customers_say(fake_wecom)
    first.pull(KFID)
    # The first puller takes a batch, handles part of it and dies: half handled and not marked, half untouched.
    with first._session_factory.begin() as session:
        batch = kf_rows.claim_pending(session, worker=first.worker, now=clock.now(), limit=100)
    for pulled in batch[:50]:
        event = first._event(pulled)
        if event is not None:
            first._handle(event)
    # Its lease runs out; the second puller takes everything left, the half-done batch included.
    clock.advance(minutes=3)
    report = second.handle_pending()

    assert report.handled == MESSAGES
    assert report.duplicates == 50  # the dead puller's effects stand; handled again, they change nothing
    assert _count(wide_pg, select(func.count()).select_from(OutboxMessage)) == MESSAGES
    assert _count(wide_pg, select(func.count()).select_from(Checkin)) == 250
    with second._session_factory() as session:
        assert kf_rows.unhandled_count(session) == 0


def test_a_crash_between_pull_and_store_loses_nothing(
    tmp_path: Path,
    wide_pg: Engine,
    pg_url: str,
    fake_wecom: FakeWecom,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (puller,) = _pullers(tmp_path, wide_pg, pg_url, fake_wecom, clock, 1)
    _customers_say(fake_wecom)
    real = kf_rows.store_batch

    def crash(*args: Any, **kwargs: Any) -> int | None:
        raise RuntimeError("killed after kf/sync_msg answered")

    monkeypatch.setattr(kf_rows, "store_batch", crash)
    with pytest.raises(RuntimeError):
        puller.pull(KFID)
    monkeypatch.setattr(kf_rows, "store_batch", real)
    assert puller.pull(KFID) == MESSAGES  # the cursor never moved, so the same pages come again
    assert puller.handle_pending().handled == MESSAGES
