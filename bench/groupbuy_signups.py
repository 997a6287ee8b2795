"""Measure group-buy signups through the real dispatcher: many members racing for one deal's places.

Usage: python bench/groupbuy_signups.py [--members 1000] [--places 500] [--threads 8] [--database-url URL]

Every signup on one deal takes that deal's row lock, so this is the worst case: one hot deal. Prints
signups per second and latency percentiles, then the time to close the deal and queue its notices.
Runs on a fresh SQLite file by default, or on the PostgreSQL URL given (its tables are emptied first).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.timing import migrate_empty, percentiles, run_in_threads  # noqa: E402
from bot.clock import FrozenClock  # noqa: E402
from bot.events import Event  # noqa: E402
from bot.services import build_services  # noqa: E402
from handlers.groupbuy.commands import close_due_groupbuys  # noqa: E402
from models.db import make_engine  # noqa: E402
from models.groupbuy import Deal  # noqa: E402
from tests.conftest import base_config, write_yaml  # noqa: E402
from tests.factories import load_handlers  # noqa: E402

GROUP = "wrbench0001"


def event(text: str, user: str, clock: FrozenClock) -> Event:
    return Event(
        kind="text",
        source="console",
        user_id=user,
        chat_id=GROUP,
        at=clock.now(),
        text=f"@小助手\u2005{text}",
        msg_id=uuid.uuid4().hex,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--places", type=int, default=500)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--database-url")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        engine = make_engine(url, pool_size=args.threads + 2) if url.startswith("postgres") else make_engine(url)
        migrate_empty(engine)
        config = {
            **base_config(url),
            "groups": [{"chat_id": GROUP, "name": "压测群", "guide": "guide01"}],
            "groupbuy": {"points_per_signup": 10},
        }
        path = write_yaml(Path(tmp) / "config.yaml", config)
        clock = FrozenClock(datetime(2026, 11, 22, 2, 0, tzinfo=UTC))
        services = build_services(str(path), registry=load_handlers(), clock=clock, engine=engine)
        opened = services.dispatcher.handle(
            event(f"开团 压测草莓 价格=39.9 名额={args.places} 截止=2小时 限购=1", "guide01", clock)
        )
        with services.session_factory() as session:
            code = session.query(Deal).one().code
        assert code in opened.passive_text

        events = [event(f"接龙 {code}", f"member{i:05d}", clock) for i in range(args.members)]

        def handle(ev: Event) -> None:
            text = services.dispatcher.handle(ev).passive_text
            if "跟团号" not in text:
                raise SystemExit(f"unexpected reply: {text[:120]}")

        elapsed, latencies = run_in_threads([events[i :: args.threads] for i in range(args.threads)], handle)
        backend = engine.dialect.name
        print(f"{backend}: {args.members} members, {args.places} places, {args.threads} threads")
        print(f"{'接龙 on one hot deal':<30} {len(latencies) / elapsed:>8.1f} signups/s  {percentiles(latencies)}")
        clock.advance(hours=3)
        started = time.perf_counter()
        closed = close_due_groupbuys(services.session_factory, services.config(), clock.now())
        took = time.perf_counter() - started
        print(f"{'close + notices + points':<30} {closed} deal closed in {took * 1000:.0f} ms")
        engine.dispose()


if __name__ == "__main__":
    main()
