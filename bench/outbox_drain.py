"""Measure outbox delivery through a fake WeCom over real HTTP: throughput, and how closely a limit is used.

Usage: python bench/outbox_drain.py [--messages 10000] [--drainers 2] [--database-url URL]
       [--limit-messages 120] [--webhook-per-minute 20] [--speedup 10]

1. Limits off: `--messages` app messages drained by `--drainers` threads; prints messages per second.
2. Webhook limit on: `--limit-messages` messages for one group robot at WeCom's real limit of 20 a minute.
   The clock runs `--speedup` times faster than real time (a limiter minute lasts six real seconds at 10),
   so the default 120 messages take six simulated minutes, about 36 real seconds. The limiter only sees the
   clock, so the share of the limit it achieves is the share it would achieve in real time, provided the
   drain can go faster than the limit asks: it has to send webhook_per_minute * speedup / 60 messages per
   real second (3.3 by default), far below what step 1 shows. The bench warns when that demand exceeds
   half the step-1 throughput, because then it measures the drain's speed instead of the limiter.
   Prints the achieved rate as a share of the limit and the most sent in any one limiter window.
A fresh SQLite file by default. `--database-url` measures PostgreSQL instead; the bench DELETES EVERY ROW
of every table there, so give it a database (or a search_path schema) of its own, never a live one.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from bench.timing import migrate_empty  # noqa: E402
from bot.config.core import OutboxConfig  # noqa: E402
from bot.transports.drainer import drain_once  # noqa: E402
from bot.transports.wecom import build_wecom_transport  # noqa: E402
from models import outbox as outbox_rows  # noqa: E402
from models.db import make_engine, make_session_factory  # noqa: E402
from models.rate_limit import RateLimitWindow  # noqa: E402
from tests.bot.transports.conftest import WEBHOOK_KEY, wecom_config  # noqa: E402
from tests.fake_wecom import FakeWecom, start_fake_wecom  # noqa: E402

ORIGIN = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai: outside quiet hours, a minute boundary


class ScaledClock:
    """A clock that starts at ORIGIN when created and runs `speedup` times faster than real time."""

    def __init__(self, speedup: float):
        self.speedup = speedup
        self.start = time.monotonic()

    def now(self) -> datetime:
        return ORIGIN + timedelta(seconds=(time.monotonic() - self.start) * self.speedup)

    def window_of(self, monotonic: float) -> int:
        """Return the index of the limiter minute a monotonic instant falls in."""
        return int((monotonic - self.start) * self.speedup // 60)


def queue(factory: sessionmaker[Session], count: int, channel: str, target: str | None, now: datetime) -> None:
    with factory.begin() as session:
        for i in range(count):
            outbox_rows.add_message(
                session,
                channel=channel,
                target_kind="chat" if channel == "group" else "user",
                target=target or f"staff{i % 200}",
                payload={"msgtype": "text", "content": f"消息 {i}", "mentions": []},
                now=now,
            )


def drain_all(factory, fake: FakeWecom, config, clock, drainers: int, total: int, endpoint: str) -> float:  # type: ignore[no-untyped-def]
    """Run `drainers` threads until the fake has seen `total` sends; return the seconds it took."""
    # No drainer dies here; with the fast clock the default reclaim timeout would be two real seconds.
    settings = OutboxConfig(batch_size=50, reclaim_after_seconds=10**7)
    done = threading.Event()

    def run(name: str) -> None:
        transport = build_wecom_transport(lambda: config, factory, clock)
        while not done.is_set():
            if drain_once(factory, transport, settings, clock, worker=name).claimed == 0:
                time.sleep(0.02)  # a real drainer sleeps poll_seconds; this keeps idle passes off the lock

    threads = [threading.Thread(target=run, args=(f"bench-{i}",), daemon=True) for i in range(drainers)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    while len(fake.calls_to(endpoint)) < total:
        time.sleep(0.01)
    elapsed = time.perf_counter() - start
    done.set()
    for thread in threads:
        thread.join(10)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--limit-messages", type=int, default=120)
    parser.add_argument("--drainers", type=int, default=2)
    parser.add_argument("--webhook-per-minute", type=int, default=20)
    parser.add_argument("--speedup", type=float, default=10.0)
    parser.add_argument("--database-url")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        engine = make_engine(url)
        migrate_empty(engine)
        factory = make_session_factory(engine)
        fake, server, _ = start_fake_wecom()
        fake.webhook_keys.add(WEBHOOK_KEY)
        try:
            print(f"database: {engine.url.get_backend_name()}, drainers: {args.drainers}")

            queue(factory, args.messages, "app_message", None, ORIGIN)
            clock = ScaledClock(1.0)
            config = wecom_config(fake, limits={"enabled": False})
            elapsed = drain_all(factory, fake, config, clock, args.drainers, args.messages, "message/send")
            throughput = args.messages / elapsed
            print(f"limits off: {args.messages} app messages in {elapsed:.1f} s = {throughput:.0f} msg/s")

            limit = args.webhook_per_minute
            demand = limit * args.speedup / 60
            if demand > throughput / 2:
                print(
                    f"warning: the limit at x{args.speedup:g} asks for {demand:.0f} msg/s, more than half of what "
                    "the drain does with limits off; the figure below measures the drain, not the limiter. "
                    "Lower --speedup or --webhook-per-minute."
                )
            queue(factory, args.limit_messages, "group", "wr-internal", ORIGIN)
            clock = ScaledClock(args.speedup)
            config = wecom_config(fake, limits={"webhook_per_minute": limit})
            elapsed = drain_all(factory, fake, config, clock, args.drainers, args.limit_messages, "webhook/send")
            calls = fake.calls_to("webhook/send")
            simulated_minutes = elapsed * args.speedup / 60
            rate = len(calls) / simulated_minutes
            # Arrival times at the fake lag the limiter's decision by a few ms, so count by arrival only for
            # the mean; the limiter's own table says exactly how much each window spent.
            per_window = Counter(clock.window_of(c.at) for c in calls)
            with factory() as session:
                spent = list(session.scalars(select(RateLimitWindow.used).where(RateLimitWindow.key.like("webhook:%"))))
            # The last window is cut short when the queue runs dry; the full ones show the limiter's use of it.
            full = [n for _, n in sorted(per_window.items())][:-1] or [len(calls)]
            mean = sum(full) / len(full)
            print(
                f"webhook limit {limit}/min (clock x{args.speedup:g}): {len(calls)} messages in "
                f"{simulated_minutes:.1f} simulated minutes ({elapsed:.1f} s real); "
                f"rate {mean:.1f}/min = {mean / limit:.1%} of the limit (mean of {len(full)} full windows)"
            )
            print(
                f"  most spent in one window: {max(spent)} (limit {limit}); overall including the last, "
                f"partly used window: {rate:.1f}/min"
            )
        finally:
            server.shutdown()
            server.server_close()
            engine.dispose()


if __name__ == "__main__":
    main()
