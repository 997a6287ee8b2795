"""Release many threads at once and surface their failures: the tests' way of proving concurrency claims."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

Result = TypeVar("Result")


def run_together(count: int, work: Callable[[int], Result], *, timeout: float = 120) -> list[Result]:
    """Run `work(0..count-1)` in `count` threads released by one barrier; return the results in finishing order.

    A thread's exception would otherwise be lost, so the first few are raised here; a thread still
    running after `timeout` seconds fails the test instead of hanging it.
    """
    start = threading.Barrier(count)
    results: list[Result] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        try:
            start.wait()
            outcome = work(index)
            with lock:
                results.append(outcome)
        except BaseException as exc:
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not errors, errors[:3]
    assert not any(thread.is_alive() for thread in threads), "a worker was still running at the timeout"
    return results
