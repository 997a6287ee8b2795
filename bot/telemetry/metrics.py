"""Prometheus metrics: counters and a histogram kept per process, gauges read from the database at scrape time.

Under gunicorn every worker counts for itself; with PROMETHEUS_MULTIPROC_DIR set (before the process starts)
prometheus_client keeps the values in files there and /metrics adds up all workers. Gauges that describe
shared state (outbox depth, customer-task cap, the scheduler's leader) are read from the database on each
scrape instead, so any worker answers the same.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy.orm import Session, sessionmaker

from bot.config.core import Config
from bot.transports.limiter import days_in_month, window
from models import rate_limit, scheduler_lease
from models.console_queries import outbox_by_state

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# The scheduler's lease name (scheduler.leader.LEASE_NAME; bot/ does not import scheduler/).
SCHEDULER_LEASE = "scheduler"

CALLBACKS = Counter(
    "groupbot_callbacks_total",
    "WeCom callbacks answered, by channel and outcome "
    "(handled, duplicate, ignored, verify, refused, malformed, too_large, not_configured, error).",
    ["channel", "outcome"],
)
HANDLER_SECONDS = Histogram(
    "groupbot_handler_seconds",
    "Time to de-duplicate, route and commit one event, by the channel it came in on.",
    ["source"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
SENDS = Counter(
    "groupbot_sends_total",
    "Outbox sends attempted, by transport and WeCom errcode (0 = delivered, none = no answer from WeCom).",
    ["transport", "errcode"],
)
DEFERRALS = Counter(
    "groupbot_limiter_deferrals_total",
    "Sends put off by the limiter (a spent budget) or by quiet hours, by transport.",
    ["transport", "reason"],
)
KF_WINDOW_WAITS = Counter(
    "groupbot_kf_window_waits_total",
    "微信客服 replies held because the customer's 48 h / 5-message window was closed.",
)


def observe_send(transport: str, errcode: int | None) -> None:
    SENDS.labels(transport, "none" if errcode is None else str(errcode)).inc()


def observe_deferral(transport: str, reason: str) -> None:
    DEFERRALS.labels(transport, "quiet_hours" if reason.startswith("quiet hours") else "budget").inc()


def observe_kf_window_wait() -> None:
    """Count one kf reply held for the customer's window (called by the kf transport)."""
    KF_WINDOW_WAITS.inc()


class DatabaseCollector(Collector):
    """Gauges read from the database on each scrape: they describe what all processes share."""

    def __init__(
        self, session_factory: sessionmaker[Session], config: Callable[[], Config], now: Callable[[], datetime]
    ):
        self._session_factory = session_factory
        self._config = config
        self._now = now

    def collect(self) -> Iterator[Metric]:
        config, now = self._config(), self._now()
        depth = GaugeMetricFamily(
            "groupbot_outbox_rows", "Outbox rows by state and channel.", labels=["state", "channel"]
        )
        used = GaugeMetricFamily(
            "groupbot_customer_task_used",
            "Customer tasks sent to each customer group this month (WeCom allows about one a day).",
            labels=["chat"],
        )
        cap = GaugeMetricFamily(
            "groupbot_customer_task_cap", "The monthly customer-task cap per group.", labels=["chat"]
        )
        leader = GaugeMetricFamily(
            "groupbot_scheduler_leader", "1 for the process holding the scheduler lease now.", labels=["holder"]
        )
        try:
            with self._session_factory() as session:
                for state, channel, count in outbox_by_state(session):
                    depth.add_metric([state, channel], count)
                month = window("month", now, config.zone)[0]
                limit = config.outbound.limits.customer_task_per_month or days_in_month(now, config.zone)
                for group in config.groups:
                    if group.kind == "customer" and group.push == "customer_task":
                        used.add_metric(
                            [group.chat_id], rate_limit.used(session, f"customer_task:{group.chat_id}/month", month)
                        )
                        cap.add_metric([group.chat_id], limit)
                lease = scheduler_lease.current(session, SCHEDULER_LEASE)
                if lease is not None and lease.expires_at > now:
                    leader.add_metric([lease.holder], 1)
        except Exception as exc:  # a scrape reports what it can; it never breaks the endpoint
            log.warning("metrics: database gauges unavailable: %s", exc)
            return
        yield from (depth, used, cap, leader)


def exposition_registry(extra: Iterable[Collector]) -> CollectorRegistry:
    """The registry one scrape reads: all workers' files in multiprocess mode, else this process's metrics."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry(auto_describe=True)
        registry.register(_Forward(REGISTRY))
    for collector in extra:
        registry.register(collector)
    return registry


class _Forward(Collector):
    """This process's default registry, read through another registry."""

    def __init__(self, source: CollectorRegistry):
        self._source = source

    def collect(self) -> Iterator[Metric]:
        return iter(self._source.collect())


def child_exit(_server: object, worker: object) -> None:
    """Gunicorn hook: forget a dead worker's live gauges (its counters stay counted)."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
