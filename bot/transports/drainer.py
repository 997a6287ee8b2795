"""Deliver due outbox rows through a transport, with retries and backoff; park what cannot be sent."""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.config.core import Config, OutboxConfig
from bot.telemetry.metrics import observe_deferral, observe_send
from bot.transports.base import (
    Deferred,
    DeliveryError,
    OutgoingMessage,
    Transport,
    WaitForGuide,
    exponential_backoff,
    redact,
)
from bot.transports.console import ConsoleTransport
from bot.transports.wecom import build_wecom_transport
from models import outbox as outbox_rows

log = logging.getLogger(__name__)
# A capability's background thread beside the drainer: `start(transport, session_factory, clock, stop_event)`.
Worker = Callable[[Transport, sessionmaker[Session], Clock, threading.Event], threading.Thread | None]


def make_transport(
    config: Config,
    *,
    session_factory: sessionmaker[Session] | None = None,
    clock: Clock | None = None,
    current: Callable[[], Config] | None = None,
) -> Transport:
    """Build the transport the config names; `wecom` also needs the database, a clock and the live config."""
    if config.outbox.transport == "console":
        return ConsoleTransport()
    if config.outbox.transport == "wecom":
        if session_factory is None or clock is None:
            raise ValueError("the wecom transport needs a session factory and a clock")
        return build_wecom_transport(current or (lambda: config), session_factory, clock)
    raise ValueError(f"unknown outbox transport {config.outbox.transport!r}")  # pragma: no cover


def backoff(attempts: int, settings: OutboxConfig, rng: random.Random) -> float:
    """Seconds to wait before attempt `attempts + 1`: exponential, capped, with full jitter on top half."""
    ceiling = exponential_backoff(attempts, settings.retry_base_seconds, settings.retry_max_seconds)
    return ceiling / 2 + rng.random() * ceiling / 2


@dataclass
class DrainReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    deferred: int = 0
    waiting: int = 0  # held for the guide's sidebar


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"[:64]


def drain_once(
    session_factory: sessionmaker[Session],
    transport: Transport,
    settings: OutboxConfig,
    clock: Clock,
    *,
    worker: str | None = None,
    rng: random.Random | None = None,
) -> DrainReport:
    """Claim the due rows, send each, and record what happened; return the counts."""
    worker = worker or worker_name()
    rng = rng or random.Random()
    report = DrainReport()
    reclaim_after = timedelta(seconds=settings.reclaim_after_seconds)
    with session_factory.begin() as session:
        now = clock.now()
        abandoned = outbox_rows.fail_abandoned(
            session, now=now, reclaim_after=reclaim_after, max_attempts=settings.max_attempts
        )
        claimed = [
            OutgoingMessage(
                row.id, row.channel, row.target_kind, row.target, dict(row.payload), row.attempts, row.waiting_since
            )
            for row in outbox_rows.claim_due(
                session,
                worker=worker,
                now=now,
                limit=settings.batch_size,
                reclaim_after=reclaim_after,
                max_attempts=settings.max_attempts,
            )
        ]
    for row_id in abandoned:
        report.failed += 1
        log.error("outbox row %s failed: a drainer stopped while sending it on its last attempt", row_id)
    report.claimed = len(claimed)
    started = time.monotonic()
    # Sending happens outside any transaction: a slow WeCom call must not hold database locks.
    for index, message in enumerate(claimed):
        # Rows held longer than reclaim_after would be taken (and sent) by another drainer too; give the
        # rest of a slow batch back, unspent, well before that.
        if time.monotonic() - started > settings.reclaim_after_seconds / 2:
            _release(session_factory, worker, claimed[index:], clock.now(), report)
            break
        route = route_of(transport, message)
        try:
            transport.send(message)
        except Deferred as wait:
            observe_deferral(route, str(wait))
            with session_factory.begin() as session:
                if outbox_rows.mark_deferred(session, message.id, worker, wait.until, str(wait)):
                    report.deferred += 1
                if wait.backlog:
                    outbox_rows.defer_backlog(session, message.channel, message.target, wait.until, str(wait))
        except WaitForGuide as wait:
            with session_factory.begin() as session:
                if outbox_rows.mark_waiting(session, message.id, worker, wait.until, clock.now(), str(wait)):
                    report.waiting += 1
        except DeliveryError as exc:
            observe_send(route, exc.errcode)
            _record_failure(session_factory, settings, clock, worker, message, exc, rng, report)
        except Exception as exc:  # a transport bug must not kill the drainer or lose the row
            # The traceback can quote a URL with its webhook key or token: log it redacted.
            trace = redact("".join(traceback.format_exception(exc)))
            log.error("transport %s crashed on outbox row %s:\n%s", transport.name, message.id, trace)
            error = DeliveryError(f"transport error: {exc!r}", transient=True)
            _record_failure(session_factory, settings, clock, worker, message, error, rng, report)
        else:
            observe_send(route, 0)
            with session_factory.begin() as session:
                if outbox_rows.mark_sent(session, message.id, worker, clock.now()):
                    report.sent += 1
    return report


def route_of(transport: Transport, message: OutgoingMessage) -> str:
    """The way `message` leaves, for metrics: the group's push transport, else the outbox channel."""
    route = getattr(transport, "route", None)
    return str(route(message)) if route is not None else transport.name


def _release(
    session_factory: sessionmaker[Session],
    worker: str,
    messages: list[OutgoingMessage],
    now: datetime,
    report: DrainReport,
) -> None:
    with session_factory.begin() as session:
        for message in messages:
            if outbox_rows.mark_deferred(session, message.id, worker, now, "released unsent: the batch ran long"):
                report.deferred += 1
    log.warning("released %d unsent outbox rows: sending the batch took too long", len(messages))


def _record_failure(
    session_factory: sessionmaker[Session],
    settings: OutboxConfig,
    clock: Clock,
    worker: str,
    message: OutgoingMessage,
    error: DeliveryError,
    rng: random.Random,
    report: DrainReport,
) -> None:
    with session_factory.begin() as session:
        if not error.transient or message.attempts >= settings.max_attempts:
            reason = str(error) if not error.transient else f"gave up after {message.attempts} attempts: {error}"
            if outbox_rows.mark_failed(session, message.id, worker, reason):
                report.failed += 1
                log.error("outbox row %s failed: %s", message.id, reason)
            return
        delay = backoff(message.attempts, settings, rng)
        if error.retry_after:
            # Rows blocked together (45009) would all come back at the same instant and be blocked together
            # again; up to half the wait again on top spreads them out.
            delay = max(delay, error.retry_after * (1 + rng.random() / 2))
        when = clock.now() + timedelta(seconds=delay)
        if outbox_rows.mark_retry(session, message.id, worker, when, str(error)):
            report.retried += 1
            log.warning("outbox row %s will retry in %.0fs: %s", message.id, delay, error)


class Drainer:
    """A background thread that drains the outbox every `poll_seconds`, or at once when woken."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        transport: Transport,
        settings: OutboxConfig,
        clock: Clock,
        workers: Sequence[Worker] = (),
    ):
        self._session_factory = session_factory
        self._transport = transport
        self._settings = settings
        self._clock = clock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-drainer", daemon=True)
        self._workers = tuple(workers)
        self._worker_threads: list[threading.Thread] = []

    def start(self) -> None:
        self._thread.start()
        # Capabilities' background work that needs the same transport (customer-group sync, for one).
        for start in self._workers:
            thread = start(self._transport, self._session_factory, self._clock, self._stop)
            if thread is not None:
                self._worker_threads.append(thread)

    def wake(self) -> None:
        """Drain now instead of at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        for thread in self._worker_threads:
            thread.join(timeout)

    def _run(self) -> None:
        worker = worker_name()
        tick = getattr(self._transport, "tick", None)
        while not self._stop.is_set():
            if tick is not None:
                try:
                    tick()
                except Exception:
                    log.exception("outbox housekeeping failed; trying again next pass")
            try:
                report = drain_once(self._session_factory, self._transport, self._settings, self._clock, worker=worker)
            except Exception:
                log.exception("outbox drain pass failed; trying again shortly")
                report = DrainReport()
            if report.claimed >= self._settings.batch_size:
                continue  # more rows are probably due; don't sleep between full batches
            self._wake.wait(self._settings.poll_seconds)
            self._wake.clear()
