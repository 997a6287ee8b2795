"""Measure membership events: join waves through the encrypted callback, and the silent-member query at scale.

Usage: python bench/membership.py [--waves 200] [--wave-size 30] [--big 500] [--members 50000] [--database-url URL]

Prints, on a fresh database (SQLite file by default; pass a PostgreSQL URL to measure that):
- join events per second when each event brings `--wave-size` members to one of 20 customer groups
  (each welcome coalesced into one delayed outbox row per group and window);
- the time to handle one event naming `--big` members;
- the time of the 成员 figures (member count, joins/leaves, silent members) for a group of
  `--members` members, and the query plan of the silent-member count.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text  # noqa: E402

from bot.app import create_app  # noqa: E402
from bot.clock import FrozenClock  # noqa: E402
from bot.services import build_services  # noqa: E402
from models import OutboxMessage, migrate  # noqa: E402
from models.db import make_engine, make_session_factory  # noqa: E402
from models.membership import Membership, group_figures  # noqa: E402
from tests import factories  # noqa: E402
from tests.conftest import base_config, write_yaml  # noqa: E402
from tests.factories import load_handlers  # noqa: E402

GROUPS = [
    {
        "chat_id": f"wrBench{i:02d}",
        "name": f"福利{i}群",
        "kind": "customer",
        "guide": "guide01",
        "push": "customer_task",
    }
    for i in range(20)
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--waves", type=int, default=200)
    parser.add_argument("--wave-size", type=int, default=30)
    parser.add_argument("--big", type=int, default=500)
    parser.add_argument("--members", type=int, default=50_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="groupbot-bench-"))
    url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    config = write_yaml(workdir / "config.yaml", {**base_config(url), "groups": GROUPS})
    clock = FrozenClock(datetime(2026, 11, 22, 2, 0, tzinfo=UTC))
    services = build_services(str(config), registry=load_handlers(), clock=clock, engine=engine)
    client = create_app(services).test_client()
    sender = factories.app_sender()

    def post(plaintext: str) -> float:
        signed = sender.xml_post(plaintext)
        started = time.perf_counter()
        resp = client.post(f"/wecom/callback?{signed.query_string}", data=signed.body, content_type="text/xml")
        elapsed = time.perf_counter() - started
        if resp.status_code != 200:
            raise SystemExit(f"unexpected status {resp.status_code}")
        return elapsed

    latencies = []
    started = time.perf_counter()
    for wave in range(args.waves):
        chat = GROUPS[wave % len(GROUPS)]["chat_id"]
        users = [f"wm{wave:05d}x{i:03d}" for i in range(args.wave_size)]
        latencies.append(post(factories.make_member_joined(chat, users, create_time=int(clock.now().timestamp()))))
        clock.advance(seconds=1)
    total = time.perf_counter() - started
    with make_session_factory(engine)() as session:
        rows = session.scalar(select(func.count()).select_from(OutboxMessage))
    latencies.sort()
    print(f"database: {engine.dialect.name}")
    print(
        f"join waves: {args.waves} events x {args.wave_size} members in {total:.2f}s = "
        f"{args.waves / total:.0f} events/s, "
        f"{args.waves * args.wave_size / total:.0f} joins/s; p50 {statistics.median(latencies) * 1000:.1f} ms, "
        f"p95 {latencies[int(len(latencies) * 0.95)] * 1000:.1f} ms; {rows} welcome rows queued"
    )

    big = [f"wmBig{i:05d}" for i in range(args.big)]
    elapsed = post(factories.make_member_joined("wrBench00", big, create_time=int(clock.now().timestamp())))
    print(f"one event naming {args.big} members: {elapsed * 1000:.0f} ms")

    now = clock.now()
    factory = make_session_factory(engine)
    with factory.begin() as session:
        batch = []
        for i in range(args.members):
            active = now - timedelta(days=i % 30, hours=1)
            batch.append({"chat_id": "wrHuge", "user_id": f"wmH{i:06d}", "joined_at": active, "last_active_at": active})
            if len(batch) == 5000:
                session.execute(insert(Membership), batch)
                batch = []
        if batch:
            session.execute(insert(Membership), batch)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE memberships"))
    with factory() as session:
        started = time.perf_counter()
        figures = group_figures(session, "wrHuge", now=now, day_start=now - timedelta(hours=10), silent_days=7)
        elapsed = time.perf_counter() - started
    print(f"成员 figures for {figures.members} members ({figures.silent} silent 7+ days): {elapsed * 1000:.1f} ms")
    quiet = now - timedelta(days=7)
    with engine.connect() as conn:
        explain = "EXPLAIN QUERY PLAN" if engine.dialect.name == "sqlite" else "EXPLAIN"
        plan = conn.execute(
            text(
                f"{explain} SELECT user_id FROM memberships WHERE last_active_at < :quiet "
                "AND left_at IS NULL ORDER BY last_active_at LIMIT 100"
            ),
            {"quiet": quiet.replace(tzinfo=None) if engine.dialect.name == "sqlite" else quiet},
        ).all()
    print("dormant query plan: " + " | ".join(str(row[-1]) for row in plan))
    engine.dispose()


if __name__ == "__main__":
    main()
