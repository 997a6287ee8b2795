"""A slow batch is given back before another drainer could reclaim it, so no row is sent twice."""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.clock import FrozenClock
from bot.config.core import OutboxConfig
from bot.transports.base import OutgoingMessage
from bot.transports.drainer import drain_once
from models import OutboxMessage
from models import outbox as outbox_rows
from models.db import make_session_factory


class Slow:
    """Takes `seconds` per send, like WeCom timing out."""

    name = "slow"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ids: list[int] = []

    def send(self, message: OutgoingMessage) -> None:
        time.sleep(self.seconds)
        self.ids.append(message.id)


def test_slow_batch_releases_its_unsent_rows(engine: Engine, clock: FrozenClock) -> None:
    """With sends slower than half of reclaim_after, the drainer stops and returns the unsent rows as pending,
    due now and with their attempt not spent; they are sent on the next pass, each once."""
    factory = make_session_factory(engine)
    with factory.begin() as session:
        ids = [
            outbox_rows.add_message(
                session,
                channel="app_message",
                target_kind="user",
                target="guide01",
                payload={"msgtype": "text", "content": f"消息 {i}", "mentions": []},
                now=clock.now(),
            ).id
            for i in range(5)
        ]
    settings = OutboxConfig(batch_size=10, reclaim_after_seconds=0.5)
    transport = Slow(0.15)

    first = drain_once(factory, transport, settings, clock, worker="w")
    assert first.claimed == 5 and 1 <= first.sent < 5
    assert first.sent + first.deferred == 5
    with factory() as session:
        rows = {r.id: r for r in session.scalars(select(OutboxMessage))}
    released = [i for i in ids if i not in transport.ids]
    assert {(rows[i].status, rows[i].attempts, rows[i].next_attempt_at) for i in released} == {
        ("pending", 0, clock.now())
    }

    transport.seconds = 0.0
    assert drain_once(factory, transport, settings, clock, worker="w").sent == len(released)
    assert sorted(transport.ids) == sorted(ids)
