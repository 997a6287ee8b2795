"""Measure one calendar sweep: slots for many groups claimed and queued, then a repeat sweep that finds them done.

Usage: python bench/calendar_sweep.py [--groups 500] [--entries 20] [--schedulers 4] [--database-url URL]

Builds `--groups` groups (tagged in four regions) and `--entries` daily entries at 10:00 (each to one region's
tag, so each goes to a quarter of the groups), lets the calendar cursor stand at 09:59 and sweeps at 10:00:30:
prints the slots x groups claimed, the time of that first sweep, of a second sweep (everything already
claimed) and of `--schedulers` sweeps running at once on their own connections (they must queue nothing
new). A fresh SQLite file by default; `--database-url` measures PostgreSQL and DELETES EVERY ROW of every
table there, so give it a database (or a search_path schema) of its own.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, update  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from bench.timing import migrate_empty  # noqa: E402
from bot.config.core import Config  # noqa: E402
from models import CalendarCursor, OutboxMessage  # noqa: E402
from models.db import make_engine, make_session_factory  # noqa: E402
from scheduler.calendar.slots import run_calendar  # noqa: E402
from tests.factories import config_from  # noqa: E402
from tests.parallel import run_together  # noqa: E402
from tests.scheduler.harness import local  # noqa: E402

REGIONS = ("华东", "华南", "华北", "西南")


def build_config(groups: int, entries: int, *, to_all: bool = False) -> Config:
    data = {
        "timezone": "Asia/Shanghai",
        "groups": [
            {"chat_id": f"wr{i:05d}", "name": f"群{i}", "tags": [REGIONS[i % 4]], "push": "console"}
            for i in range(groups)
        ],
        "calendar": [
            {
                "id": f"e{n:03d}",
                "when": {"time": "10:00"},
                "to": {"all": True} if to_all else {"tags": [REGIONS[n % 4]]},
                "content": {"text": f"第{n}条：{{date}}（{{weekday}}）上新"},
            }
            for n in range(entries)
        ],
    }
    return config_from(data)


def rewind(factory: sessionmaker[Session]) -> None:
    """Set the cursor back before the slot, as a scheduler that crashed before saving its progress would find it."""
    with factory.begin() as session:
        session.execute(update(CalendarCursor).values(checked_until=local(2026, 11, 23, 9, 59)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=500)
    parser.add_argument("--entries", type=int, default=20)
    parser.add_argument("--schedulers", type=int, default=4)
    parser.add_argument("--to-all", action="store_true", help="every entry to every group (the widest fan-out)")
    parser.add_argument("--database-url")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        engine = make_engine(url, **({} if url.startswith("sqlite") else {"pool_size": args.schedulers + 2}))
        migrate_empty(engine)
        factory = make_session_factory(engine)
        config = build_config(args.groups, args.entries, to_all=args.to_all)
        run_calendar(factory, config, local(2026, 11, 23, 9, 59), worker="bench")
        at = local(2026, 11, 23, 10, 0, 30)
        print(f"database: {engine.url.get_backend_name()}, groups: {args.groups}, entries: {args.entries}")

        started = time.perf_counter()
        first = run_calendar(factory, config, at, worker="bench")
        elapsed = time.perf_counter() - started
        print(
            f"first sweep: {first.queued} posts claimed and queued in {elapsed:.2f} s "
            f"({first.queued / elapsed:.0f} posts/s)"
        )

        rewind(factory)
        started = time.perf_counter()
        again = run_calendar(factory, config, at, worker="bench")
        print(
            f"repeat sweep over the same slot: {again.queued} new, {again.already} already claimed, "
            f"{time.perf_counter() - started:.2f} s"
        )

        rewind(factory)
        started = time.perf_counter()
        reports = run_together(args.schedulers, lambda i: run_calendar(factory, config, at, worker=f"s{i}"))
        print(
            f"{args.schedulers} sweeps at once: {sum(r.queued for r in reports)} new posts, "
            f"{time.perf_counter() - started:.2f} s"
        )
        with factory() as session:
            total = session.scalar(select(func.count()).select_from(OutboxMessage))
        print(f"outbox rows: {total} (expected {first.queued})")
        engine.dispose()


if __name__ == "__main__":
    main()
