"""One leader: the lease row lets exactly one scheduler act; a standby takes over when the leader stops renewing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine

from bot.clock import FrozenClock
from models import scheduler_lease
from models.db import make_engine, make_session_factory
from scheduler.runner import Scheduler
from tests.parallel import run_together
from tests.scheduler.harness import factory_for, local, make_config, posts, weekly

LEASE = timedelta(seconds=30)


def test_lease_is_held_by_one_holder_until_it_lapses(engine: Engine) -> None:
    """A second holder is refused while the lease runs, renewing keeps it, and it is free once lapsed."""
    factory = factory_for(engine)
    now = local(2026, 11, 23, 10, 0)
    with factory.begin() as session:
        assert scheduler_lease.acquire(session, "scheduler", "a", now, LEASE)
    with factory.begin() as session:
        assert not scheduler_lease.acquire(session, "scheduler", "b", now + timedelta(seconds=29), LEASE)
    with factory.begin() as session:
        assert scheduler_lease.acquire(session, "scheduler", "a", now + timedelta(seconds=20), LEASE)  # renew
    with factory.begin() as session:
        assert not scheduler_lease.acquire(session, "scheduler", "b", now + timedelta(seconds=49), LEASE)
        assert scheduler_lease.acquire(session, "scheduler", "b", now + timedelta(seconds=50), LEASE)
    with factory() as session:
        row = scheduler_lease.current(session, "scheduler")
        assert row is not None and row.holder == "b" and row.expires_at == now + timedelta(seconds=80)


def test_standby_takes_over_within_the_lease_time_when_the_leader_dies(engine: Engine) -> None:
    """The leader posts; it dies (stops renewing); the standby acts within lease_seconds and posts the next slot."""
    factory = factory_for(engine)
    config = make_config([weekly(), weekly("noon", when={"weekdays": ["mon"], "time": "12:00"})])
    clock = FrozenClock(local(2026, 11, 23, 9, 59, 50))
    leader = Scheduler(factory, lambda: config, clock, holder="leader")
    standby = Scheduler(factory, lambda: config, clock, holder="standby")
    assert leader.renew() and not standby.renew()
    assert leader.calendar() is not None and standby.calendar() is None
    clock.set(local(2026, 11, 23, 10, 0, 10))
    assert leader.calendar() is not None and standby.calendar() is None
    assert len(posts(factory)) == 2

    # The leader renews at 10:00:10 and then dies. Until 10:00:40 the standby stays put.
    clock.advance(seconds=config.scheduler.lease_seconds - 1)
    assert not standby.renew()
    clock.advance(seconds=1)
    assert standby.renew() and standby.leader.leading
    clock.set(local(2026, 11, 23, 12, 0, 5))
    assert standby.calendar() is not None
    assert [row.payload["content"] for row in posts(factory)][2:] == ["11月23日（周一）新品上架"] * 2
    # The old leader, back from a pause, finds it lost the lease and does nothing.
    assert leader.calendar() is None


def test_standby_poll_takes_a_lapsed_lease_at_once_and_leaves_the_leader_alone(engine: Engine) -> None:
    """The one-second standby job takes over as soon as the lease lapses; for the leader it writes nothing."""
    factory = factory_for(engine)
    config = make_config([])
    clock = FrozenClock(local(2026, 11, 23, 10, 0))
    leader = Scheduler(factory, lambda: config, clock, holder="leader")
    standby = Scheduler(factory, lambda: config, clock, holder="standby")
    assert leader.renew() and not standby.stand_by()
    with factory() as session:
        expires = scheduler_lease.current(session, "scheduler").expires_at  # type: ignore[union-attr]
    clock.advance(seconds=5)
    assert leader.stand_by()
    with factory() as session:
        assert scheduler_lease.current(session, "scheduler").expires_at == expires  # type: ignore[union-attr]
    # The leader dies after its last renewal: one poll past the lapse, the standby leads.
    clock.set(expires - timedelta(seconds=1))
    assert not standby.stand_by()
    clock.set(expires + timedelta(seconds=1))
    assert standby.stand_by() and standby.leader.leading


def test_stopping_releases_the_lease_so_the_standby_takes_over_at_once(engine: Engine) -> None:
    factory = factory_for(engine)
    config = make_config([])
    clock = FrozenClock(local(2026, 11, 23, 10, 0))
    first = Scheduler(factory, lambda: config, clock, holder="first")
    second = Scheduler(factory, lambda: config, clock, holder="second")
    assert first.renew() and not second.renew()
    first.stop()
    assert second.renew()


@pytest.mark.postgres_only
def test_parallel_acquirers_on_separate_connections_elect_exactly_one(wide_pg: Engine) -> None:
    """Forty processes' worth of connections race for a free (then a lapsed) lease: one wins each time."""
    factory = make_session_factory(wide_pg)
    now = local(2026, 11, 23, 10, 0)

    def race(at, prefix):  # type: ignore[no-untyped-def]
        def attempt(index: int) -> bool:
            with factory.begin() as session:
                return scheduler_lease.acquire(session, "scheduler", f"{prefix}{index}", at, LEASE)

        return run_together(40, attempt)

    assert race(now, "a").count(True) == 1
    assert race(now + timedelta(seconds=10), "b").count(True) == 0  # the winner's lease still runs
    assert race(now + LEASE, "c").count(True) == 1  # lapsed: exactly one new leader
    with factory() as session:
        row = scheduler_lease.current(session, "scheduler")
        assert row is not None and row.holder.startswith("c")


@pytest.mark.postgres_only
def test_two_schedulers_with_their_own_engines_post_once_and_one_leads(pg_url: str, pg_engine: Engine) -> None:
    """Two scheduler instances, each with its own connection pool, run every job at once for twenty minutes of slots."""
    config = make_config([weekly(to={"all": True}), weekly("quarter", when={"cron": "15 10 * * *"})])
    clock = FrozenClock(local(2026, 11, 23, 9, 58))
    engines = [make_engine(pg_url), make_engine(pg_url)]
    schedulers = [
        Scheduler(make_session_factory(e), lambda: config, clock, holder=f"proc{i}") for i, e in enumerate(engines)
    ]
    try:
        leading_counts = []
        for _ in range(40):
            results = run_together(2, lambda i: (schedulers[i].renew(), schedulers[i].calendar() is not None))
            leading_counts.append(sum(1 for renewed, acted in results if renewed and acted))
            assert all(renewed == acted for renewed, acted in results)
            clock.advance(seconds=30)
    finally:
        for e in engines:
            e.dispose()
    assert set(leading_counts) == {1}
    factory = make_session_factory(pg_engine)
    assert sorted(row.target for row in posts(factory)) == ["wr-app", "wr-app", "wr-cust", "wr-team", "wr-team"]
