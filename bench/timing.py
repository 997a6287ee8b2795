"""What the benchmarks share: an empty migrated database, work run from parallel threads, latency percentiles."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from sqlalchemy.engine import Engine

from models import Base, migrate

Item = TypeVar("Item")


def migrate_empty(engine: Engine) -> None:
    """Migrate the database and delete every row in it: a benchmark starts from nothing."""
    migrate.upgrade(engine)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


def run_in_threads(batches: Sequence[Sequence[Item]], work: Callable[[Item], None]) -> tuple[float, list[float]]:
    """Run `work` on every item, one thread per batch; return wall time and each item's latency in seconds."""
    latencies: list[float] = []
    lock = threading.Lock()

    def worker(batch: Sequence[Item]) -> None:
        mine = []
        for item in batch:
            started = time.perf_counter()
            work(item)
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(batch,)) for batch in batches]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return time.perf_counter() - started, latencies


def percentiles(latencies: list[float]) -> str:
    """`p50 … p95 … p99 … mean …` in milliseconds."""
    ordered = sorted(latencies)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    mean = statistics.mean(ordered) * 1000
    return f"p50 {at(0.50):7.2f} ms   p95 {at(0.95):7.2f} ms   p99 {at(0.99):7.2f} ms   mean {mean:7.2f} ms"
