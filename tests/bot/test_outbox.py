"""The outbox as an operator sees it: rows delivered once, retried with backoff, parked as failed, never lost."""

from __future__ import annotations

import io
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import FrozenClock
from bot.config.core import OutboxConfig
from bot.events import Event
from bot.services import Services
from bot.transports.base import DeliveryError, OutgoingMessage
from bot.transports.console import ConsoleTransport
from bot.transports.drainer import Drainer, DrainReport, drain_once
from models import OutboxMessage
from models import outbox as outbox_rows
from models.db import make_session_factory

SETTINGS = OutboxConfig(
    batch_size=50, max_attempts=8, retry_base_seconds=5, retry_max_seconds=600, reclaim_after_seconds=120
)


# --- fake transports -----------------------------------------------------------------------------


class Recording:
    """Delivers by remembering: the ids and texts it was asked to send, thread-safe."""

    name = "recording"

    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []
        self._lock = threading.Lock()

    def send(self, message: OutgoingMessage) -> None:
        with self._lock:
            self.sent.append((message.id, message.payload["content"]))

    @property
    def ids(self) -> list[int]:
        with self._lock:
            return [i for i, _ in self.sent]


class Scripted(Recording):
    """Raises the queued exceptions one per send, then delivers."""

    name = "scripted"

    def __init__(self, *errors: BaseException) -> None:
        super().__init__()
        self.errors = list(errors)
        self.attempts = 0

    def send(self, message: OutgoingMessage) -> None:
        self.attempts += 1
        if self.errors:
            raise self.errors.pop(0)
        super().send(message)


class AlwaysTransient(Recording):
    name = "always-transient"

    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    def send(self, message: OutgoingMessage) -> None:
        self.attempts += 1
        raise DeliveryError("errcode 45009: api freq out of limit", transient=True)


# --- helpers -------------------------------------------------------------------------------------


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


def queue(factory: sessionmaker[Session], now: datetime, *texts: str, target: str = "zhangsan") -> list[int]:
    """Commit one pending app-message row per text and return their ids."""
    with factory.begin() as session:
        rows = [
            outbox_rows.add_message(
                session,
                channel="app_message",
                target_kind="user",
                target=target,
                payload={"msgtype": "text", "content": text, "mentions": []},
                now=now,
            )
            for text in texts
        ]
        session.flush()
        return [row.id for row in rows]


def row(factory: sessionmaker[Session], row_id: int) -> OutboxMessage:
    with factory() as session:
        found = session.get(OutboxMessage, row_id)
        assert found is not None
        return found


def drain(factory: sessionmaker[Session], transport: Any, clock: FrozenClock, **kw: Any) -> DrainReport:
    settings = kw.pop("settings", SETTINGS)
    return drain_once(factory, transport, settings, clock, rng=random.Random(7), **kw)


# --- delivery --------------------------------------------------------------------------------------


def test_app_reply_is_printed_by_console_transport_and_marked_sent(
    make_services: Callable[..., Services], config_file: Path, clock: FrozenClock
) -> None:
    """帮助 on the app channel becomes a pending row; the console drainer prints `→ user: text` and marks it sent."""
    services = make_services(config_file)
    event = Event(
        kind="text", source="app", user_id="zhangsan", chat_id=None, at=clock.now(), text="帮助", msg_id="m-1"
    )
    assert services.dispatcher.handle(event).queued == 1
    with services.session_factory() as session:
        (queued,) = outbox_rows.list_messages(session)
    assert queued.status == "pending" and queued.sent_at is None

    stream = io.StringIO()
    clock.advance(seconds=2)
    report = drain(services.session_factory, ConsoleTransport(stream), clock)

    assert (report.claimed, report.sent) == (1, 1)
    assert stream.getvalue().startswith("→ zhangsan: 我能帮你做这些（发送指令即可）：\n")
    assert stream.getvalue() == f"→ zhangsan: {queued.payload['content']}\n"
    done = row(services.session_factory, queued.id)
    assert (done.status, done.sent_at, done.attempts, done.last_error) == ("sent", clock.now(), 1, None)

    # A second pass finds nothing: a sent row is never printed again.
    assert drain(services.session_factory, ConsoleTransport(stream), clock).claimed == 0
    assert stream.getvalue().count("→ zhangsan") == 1


def test_console_transport_prints_mentions_before_text(factory: sessionmaker[Session], clock: FrozenClock) -> None:
    """A group message with @mentions shows them in front of the text."""
    with factory.begin() as session:
        outbox_rows.add_message(
            session,
            channel="group",
            target_kind="chat",
            target="wrgroup0001",
            payload={"msgtype": "text", "content": "今晚八点开团", "mentions": ["lisi", "wangwu"]},
            now=clock.now(),
        )
    stream = io.StringIO()
    drain(factory, ConsoleTransport(stream), clock)
    assert stream.getvalue() == "→ wrgroup0001: @lisi @wangwu 今晚八点开团\n"


def test_future_rows_wait_for_their_time(factory: sessionmaker[Session], clock: FrozenClock) -> None:
    """A row scheduled later is not sent early."""
    (later,) = queue(factory, clock.now() + timedelta(minutes=5), "稍后")
    transport = Recording()
    assert drain(factory, transport, clock).claimed == 0
    clock.advance(minutes=5)
    assert drain(factory, transport, clock).sent == 1
    assert transport.ids == [later]


# --- failures --------------------------------------------------------------------------------------


def test_transient_error_retries_later(factory: sessionmaker[Session], clock: FrozenClock) -> None:
    """A transient error puts the row back as pending with a later time and the error kept; it is sent then."""
    (row_id,) = queue(factory, clock.now(), "你好")
    transport = Scripted(DeliveryError("errcode -1: system busy", transient=True))
    failed_at = clock.now()

    report = drain(factory, transport, clock)
    assert (report.claimed, report.retried, report.sent) == (1, 1, 0)
    waiting = row(factory, row_id)
    assert waiting.status == "pending"
    assert waiting.attempts == 1
    assert waiting.last_error == "errcode -1: system busy"
    assert failed_at < waiting.next_attempt_at <= failed_at + timedelta(seconds=SETTINGS.retry_base_seconds)

    # Not re-sent before its time, however often the drainer runs.
    for _ in range(3):
        assert drain(factory, transport, clock).claimed == 0
    assert transport.attempts == 1

    clock.set(waiting.next_attempt_at)
    assert drain(factory, transport, clock).sent == 1
    done = row(factory, row_id)
    assert (done.status, done.attempts, done.last_error, done.sent_at) == ("sent", 2, None, clock.now())
    assert transport.ids == [row_id]


def test_retry_after_is_a_minimum(factory: sessionmaker[Session], clock: FrozenClock) -> None:
    """WeCom's 'try again in N seconds' is honoured even when the backoff would be shorter."""
    (row_id,) = queue(factory, clock.now(), "你好")
    transport = Scripted(DeliveryError("rate limited", transient=True, retry_after=300))
    start = clock.now()
    drain(factory, transport, clock)

    assert row(factory, row_id).next_attempt_at >= start + timedelta(seconds=300)
    clock.set(start + timedelta(seconds=299))
    assert drain(factory, transport, clock).claimed == 0
    clock.set(row(factory, row_id).next_attempt_at)
    assert drain(factory, transport, clock).sent == 1
    assert transport.attempts == 2


def test_rows_blocked_together_do_not_retry_together(factory: sessionmaker[Session], clock: FrozenClock) -> None:
    """Two rows WeCom blocked in the same minute (45009) wait at least the minute, but not to the same instant."""
    from bot.wecom.api import explain

    ids = queue(factory, clock.now(), "一", "二")
    transport = Scripted(explain(45009, "api freq out of limit"), explain(45009, "api freq out of limit"))
    blocked_at = clock.now()
    assert drain(factory, transport, clock).retried == 2

    waits = [row(factory, i).next_attempt_at - blocked_at for i in ids]
    assert all(wait >= timedelta(seconds=60) for wait in waits)
    assert waits[0] != waits[1]


def test_permanent_error_fails_at_once(factory: sessionmaker[Session], clock: FrozenClock) -> None:
    """A permanent error parks the row as failed on the first attempt, with the message for the operator."""
    (row_id,) = queue(factory, clock.now(), "你好")
    transport = Scripted(DeliveryError("errcode 40003: invalid userid zhangsan", transient=False))

    report = drain(factory, transport, clock)
    assert (report.failed, report.retried, report.sent) == (1, 0, 0)
    parked = row(factory, row_id)
    assert (parked.status, parked.attempts) == ("failed", 1)
    assert parked.last_error == "errcode 40003: invalid userid zhangsan"
    assert parked.sent_at is None

    clock.advance(days=1)
    assert drain(factory, transport, clock).claimed == 0
    assert transport.attempts == 1


def test_gives_up_after_max_attempts(factory: sessionmaker[Session], clock: FrozenClock) -> None:
    """Transient errors are retried max_attempts times in all, then the row is failed and says so."""
    settings = SETTINGS.model_copy(update={"max_attempts": 3, "retry_max_seconds": 10})
    (row_id,) = queue(factory, clock.now(), "你好")
    transport = AlwaysTransient()

    for _ in range(10):  # bounded: more passes than attempts, to prove it stops trying
        drain(factory, transport, clock, settings=settings)
        clock.advance(seconds=settings.retry_max_seconds)

    parked = row(factory, row_id)
    assert transport.attempts == 3
    assert (parked.status, parked.attempts) == ("failed", 3)
    assert parked.last_error is not None
    assert parked.last_error.startswith("gave up after 3 attempts")
    assert "45009" in parked.last_error


def test_transport_crash_does_not_lose_the_row(factory: sessionmaker[Session], clock: FrozenClock) -> None:
    """A transport bug (any exception) is retried like a transient error instead of dropping the message."""
    (row_id,) = queue(factory, clock.now(), "你好")
    transport = Scripted(RuntimeError("boom"))

    report = drain(factory, transport, clock)
    assert report.retried == 1
    waiting = row(factory, row_id)
    assert waiting.status == "pending"
    assert waiting.last_error is not None and "boom" in waiting.last_error

    clock.set(waiting.next_attempt_at)
    assert drain(factory, transport, clock).sent == 1
    assert row(factory, row_id).status == "sent"


# --- claims ----------------------------------------------------------------------------------------


def claim(factory: sessionmaker[Session], worker: str, now: datetime) -> list[int]:
    with factory.begin() as session:
        return [
            r.id
            for r in outbox_rows.claim_due(
                session,
                worker=worker,
                now=now,
                limit=10,
                reclaim_after=timedelta(seconds=SETTINGS.reclaim_after_seconds),
            )
        ]


def test_row_of_dead_drainer_is_reclaimed_after_timeout(factory: sessionmaker[Session], clock: FrozenClock) -> None:
    """A row left in `sending` by a drainer that died stays untouched until reclaim_after, then is delivered."""
    (row_id,) = queue(factory, clock.now(), "你好")
    assert claim(factory, "dead-drainer", clock.now()) == [row_id]  # and it never finishes
    stuck = row(factory, row_id)
    assert (stuck.status, stuck.claimed_by) == ("sending", "dead-drainer")

    transport = Recording()
    clock.advance(seconds=SETTINGS.reclaim_after_seconds - 1)
    assert drain(factory, transport, clock, worker="alive").claimed == 0
    assert transport.ids == []

    clock.advance(seconds=2)
    assert drain(factory, transport, clock, worker="alive").sent == 1
    done = row(factory, row_id)
    assert (done.status, done.claimed_by, done.attempts) == ("sent", "alive", 2)
    assert transport.ids == [row_id]


def test_row_that_keeps_killing_its_drainer_fails_after_max_attempts(
    factory: sessionmaker[Session], clock: FrozenClock
) -> None:
    """A row whose every drainer died mid-send is reclaimed until max_attempts, then failed with the reason."""
    settings = SETTINGS.model_copy(update={"max_attempts": 3})
    (row_id,) = queue(factory, clock.now(), "毒消息")
    for attempt in range(settings.max_attempts):  # each drainer claims it, then dies while sending
        assert claim(factory, f"dies-{attempt}", clock.now()) == [row_id]
        clock.advance(seconds=settings.reclaim_after_seconds + 1)

    transport = Recording()
    report = drain(factory, transport, clock, settings=settings, worker="alive")
    assert (report.claimed, report.failed) == (0, 1)
    assert transport.ids == []
    parked = row(factory, row_id)
    assert (parked.status, parked.attempts) == ("failed", 3)
    assert parked.last_error is not None and "the drainer stopped while sending it" in parked.last_error

    clock.advance(days=1)  # parked for good: no drainer takes it again on its own
    assert drain(factory, transport, clock, settings=settings).claimed == 0
    with factory.begin() as session:
        assert outbox_rows.requeue_failed(session, clock.now(), [row_id]) == [row_id]
    assert drain(factory, transport, clock, settings=settings).sent == 1


def test_drainer_whose_claim_was_taken_cannot_settle_the_row(
    factory: sessionmaker[Session], clock: FrozenClock
) -> None:
    """Once another drainer reclaimed a row, the slow original can neither mark it sent, retried nor failed."""
    (row_id,) = queue(factory, clock.now(), "你好")
    assert claim(factory, "slow", clock.now()) == [row_id]
    clock.advance(seconds=SETTINGS.reclaim_after_seconds + 1)
    assert claim(factory, "fast", clock.now()) == [row_id]

    with factory.begin() as session:
        assert outbox_rows.mark_sent(session, row_id, "slow", clock.now()) is False
        assert outbox_rows.mark_retry(session, row_id, "slow", clock.now(), "late") is False
        assert outbox_rows.mark_failed(session, row_id, "slow", "late") is False
    still = row(factory, row_id)
    assert (still.status, still.claimed_by, still.last_error) == ("sending", "fast", None)

    with factory.begin() as session:
        assert outbox_rows.mark_sent(session, row_id, "fast", clock.now()) is True
    assert row(factory, row_id).status == "sent"


def test_slow_send_overtaken_is_not_counted_twice(factory: sessionmaker[Session], clock: FrozenClock) -> None:
    """If a send outlives reclaim_after and another drainer takes the row, the slow drainer does not mark it."""
    (row_id,) = queue(factory, clock.now(), "你好")

    class Overtaken(Recording):
        def send(self, message: OutgoingMessage) -> None:
            super().send(message)
            # While this send hangs, time passes and a second drainer takes the row over.
            clock.advance(seconds=SETTINGS.reclaim_after_seconds + 1)
            assert claim(factory, "second", clock.now()) == [message.id]

    report = drain(factory, Overtaken(), clock, worker="first")
    assert (report.claimed, report.sent) == (1, 0)
    taken = row(factory, row_id)
    assert (taken.status, taken.claimed_by) == ("sending", "second")


# --- concurrency -----------------------------------------------------------------------------------


def drain_in_parallel(engine: Engine, clock: FrozenClock, threads: int, rows: int) -> Recording:
    """Queue `rows` rows, then let `threads` drainers race over them until none is left."""
    factory = make_session_factory(engine)
    queue(factory, clock.now(), *(f"消息 {i}" for i in range(rows)))
    transport = Recording()
    settings = SETTINGS.model_copy(update={"batch_size": 7})
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def run(name: str) -> None:
        try:
            start.wait()
            for _ in range(rows):  # bounded; each pass sends at least one row until none is due
                if drain_once(factory, transport, settings, clock, worker=name).claimed == 0:
                    break
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(f"drainer-{i}",)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert not errors, errors
    assert not any(w.is_alive() for w in workers)
    return transport


def assert_each_row_sent_once(engine: Engine, transport: Recording, rows: int) -> None:
    ids = transport.ids
    assert len(ids) == len(set(ids)), "a row was delivered more than once"
    with Session(engine) as session:
        statuses = session.execute(select(OutboxMessage.id, OutboxMessage.status, OutboxMessage.attempts)).all()
    assert len(statuses) == rows
    assert sorted(ids) == sorted(i for i, _, _ in statuses)
    assert {s for _, s, _ in statuses} == {"sent"}
    assert {a for _, _, a in statuses} == {1}


def test_parallel_drainers_deliver_each_row_once_on_postgresql(pg_engine: Engine, clock: FrozenClock) -> None:
    """Four drainers on their own connections share 300 rows: every row is delivered exactly once (SKIP LOCKED)."""
    transport = drain_in_parallel(pg_engine, clock, threads=4, rows=300)
    assert_each_row_sent_once(pg_engine, transport, 300)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_parallel_drainers_deliver_each_row_once_on_sqlite(engine: Engine, clock: FrozenClock) -> None:
    """Two drainers on SQLite (writers serialised by BEGIN IMMEDIATE) also deliver each row exactly once."""
    transport = drain_in_parallel(engine, clock, threads=2, rows=120)
    assert_each_row_sent_once(engine, transport, 120)


# --- the background drainer ------------------------------------------------------------------------


@pytest.fixture
def running_drainer(engine: Engine, clock: FrozenClock) -> Iterator[tuple[Drainer, Recording, threading.Thread]]:
    # A long poll interval: within the test, only wake() can make the drainer look again.
    settings = SETTINGS.model_copy(update={"poll_seconds": 60})
    transport = Recording()
    drainer = Drainer(make_session_factory(engine), transport, settings, clock)
    before = set(threading.enumerate())
    drainer.start()
    (thread,) = set(threading.enumerate()) - before
    try:
        yield drainer, transport, thread
    finally:
        drainer.stop()


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_drainer_sends_woken_rows_and_stops(
    running_drainer: tuple[Drainer, Recording, threading.Thread], engine: Engine, clock: FrozenClock
) -> None:
    """The serve-time drainer delivers a queued row when woken, and stop() ends its thread."""
    drainer, transport, thread = running_drainer
    factory = make_session_factory(engine)

    (first,) = queue(factory, clock.now(), "第一条")
    drainer.wake()
    assert wait_until(lambda: row(factory, first).status == "sent")

    # The first pass is over; with a 60 s poll only wake() can deliver this one in time.
    (second,) = queue(factory, clock.now(), "第二条")
    drainer.wake()
    assert wait_until(lambda: row(factory, second).status == "sent")
    assert transport.ids == [first, second]

    drainer.stop(timeout=5)
    assert not thread.is_alive()


def test_dispatcher_wakes_drainer_for_app_replies(
    make_services: Callable[..., Services], config_file: Path, engine: Engine, clock: FrozenClock
) -> None:
    """An app-channel reply is delivered promptly because queuing it wakes the drainer (as `serve` wires it)."""
    settings = SETTINGS.model_copy(update={"poll_seconds": 60})
    transport = Recording()
    drainer = Drainer(make_session_factory(engine), transport, settings, clock)
    services = make_services(config_file, on_queued=drainer.wake)
    drainer.start()
    try:
        # Once an earlier row is out, the drainer sleeps on its 60 s poll: only a wake can deliver the reply.
        (earlier,) = queue(make_session_factory(engine), clock.now(), "早先的一条")
        drainer.wake()
        assert wait_until(lambda: transport.ids == [earlier])
        event = Event(
            kind="text",
            source="app",
            user_id="zhangsan",
            chat_id=None,
            at=clock.now(),
            text="帮助",
            msg_id=uuid.uuid4().hex,
        )
        assert services.dispatcher.handle(event).queued == 1
        assert wait_until(lambda: len(transport.ids) == 2)
        assert transport.sent[1][1].startswith("我能帮你做这些")
    finally:
        drainer.stop(timeout=5)
