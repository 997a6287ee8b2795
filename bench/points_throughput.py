"""Measure the points economy through the real dispatcher: 签到 by many members, then 排行 on a full ledger.

Usage: python bench/points_throughput.py [--members 2000] [--threads 8] [--days 7] [--database-url URL]

Each member checks in once per simulated business day (distinct members, so every 签到 is a real
credit: account row lock, ledger insert, check-in row), from parallel threads; then `排行` and `积分`
are timed on the resulting ledger. Prints operations per second and latency percentiles, on a fresh
SQLite file by default, or on the PostgreSQL URL given (its tables are emptied first).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.timing import migrate_empty, percentiles, run_in_threads  # noqa: E402
from bot.clock import FrozenClock  # noqa: E402
from bot.events import Event  # noqa: E402
from bot.services import Services, build_services  # noqa: E402
from models.db import make_engine  # noqa: E402
from tests.conftest import base_config, write_yaml  # noqa: E402
from tests.factories import load_handlers  # noqa: E402

GROUPS = ["wrbench0001", "wrbench0002", "wrbench0003", "wrbench0004"]


def event(text: str, user: str, chat: str, clock: FrozenClock) -> Event:
    return Event(
        kind="text",
        source="console",
        user_id=user,
        chat_id=chat,
        at=clock.now(),
        text=f"@小助手\u2005{text}",
        msg_id=uuid.uuid4().hex,
    )


def timed(services: Services, events: list[Event], threads: int, expect: str) -> tuple[float, list[float]]:
    def handle(ev: Event) -> None:
        text = services.dispatcher.handle(ev).passive_text
        if expect not in text:
            raise SystemExit(f"unexpected reply: {text[:120]}")

    return run_in_threads([events[i::threads] for i in range(threads)], handle)


def report(label: str, elapsed: float, latencies: list[float]) -> None:
    print(f"{label:<38} {len(latencies):>6} ops  {len(latencies) / elapsed:>8.1f} ops/s  {percentiles(latencies)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--database-url")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        engine = make_engine(url, pool_size=args.threads + 2) if url.startswith("postgres") else make_engine(url)
        migrate_empty(engine)
        config = {
            **base_config(url),
            "points": {
                "checkin_points": 10,
                "streak_bonuses": {3: 5, 7: 20},
                "tiers": [{"name": "银卡", "min_earned": 50}, {"name": "金卡", "min_earned": 100}],
            },
        }
        path = write_yaml(Path(tmp) / "config.yaml", config)
        clock = FrozenClock(datetime(2026, 11, 16, 1, 0, tzinfo=UTC))
        services = build_services(str(path), registry=load_handlers(), clock=clock, engine=engine)
        members = [f"member{i:05d}" for i in range(args.members)]

        print(f"database: {engine.url.get_backend_name()}, {args.members} members, {args.threads} threads")
        all_latencies: list[float] = []
        total = 0.0
        for day in range(args.days):
            clock.set(datetime(2026, 11, 16, 1, 0, tzinfo=UTC) + timedelta(days=day))
            events = [event("签到", m, GROUPS[i % len(GROUPS)], clock) for i, m in enumerate(members)]
            elapsed, latencies = timed(services, events, args.threads, "签到成功")
            total += elapsed
            all_latencies.extend(latencies)
        report(f"签到 ({args.days} days x members)", total, all_latencies)

        boards = [event("排行 本周", members[i % len(members)], GROUPS[i % len(GROUPS)], clock) for i in range(400)]
        report("排行 本周 (per group)", *timed(services, boards, args.threads, "积分榜"))
        overall = [event("排行 总榜 全部群", members[i % len(members)], GROUPS[0], clock) for i in range(400)]
        report("排行 总榜 全部群", *timed(services, overall, args.threads, "积分榜"))
        mine = [event("积分", members[i % len(members)], GROUPS[0], clock) for i in range(400)]
        report("积分", *timed(services, mine, args.threads, "的积分"))
        engine.dispose()


if __name__ == "__main__":
    main()
