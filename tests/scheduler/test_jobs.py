"""Deadline closers and the reactivation pass: resolved by name when installed, run only by the leader."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from bot.clock import FrozenClock
from bot.services import Services
from scheduler.runner import Scheduler, scheduler_for
from tests.scheduler import fake_capabilities
from tests.scheduler.harness import factory_for, local, make_config


@pytest.fixture(autouse=True)
def fresh_calls() -> Iterator[None]:
    fake_capabilities.CALLS.clear()
    yield
    fake_capabilities.CALLS.clear()


def test_the_capabilities_declare_their_deadline_jobs() -> None:
    """Quiz and group-buy declare their closers; the scheduler runs what the registry lists, nothing by name."""
    from handlers.groupbuy.commands import close_due_groupbuys
    from handlers.quiz.results import close_due_quizzes
    from tests.factories import REGISTRY

    assert REGISTRY.deadline_jobs() == [
        ("quiz:close_due_quizzes", close_due_quizzes),
        ("groupbuy:close_due_groupbuys", close_due_groupbuys),
    ]


def test_leader_calls_every_closer_each_minute_and_one_failure_does_not_stop_the_rest(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    factory = factory_for(engine)
    config = make_config([])
    clock = FrozenClock(local(2026, 11, 23, 10, 0))
    jobs = (("fake:close_broken", fake_capabilities.close_broken), ("fake:close_due", fake_capabilities.close_due))
    leader = Scheduler(factory, lambda: config, clock, holder="leader", deadline_jobs=jobs)
    standby = Scheduler(factory, lambda: config, clock, holder="standby", deadline_jobs=jobs)
    with caplog.at_level(logging.ERROR):
        assert leader.deadlines() == {"fake:close_due": 2}
    assert "deadline job fake:close_broken failed" in caplog.text
    assert standby.deadlines() is None
    clock.advance(minutes=1)
    leader.deadlines()
    assert fake_capabilities.CALLS == [
        ("close_broken", local(2026, 11, 23, 10, 0)),
        ("close_due", local(2026, 11, 23, 10, 0)),
        ("close_broken", local(2026, 11, 23, 10, 1)),
        ("close_due", local(2026, 11, 23, 10, 1)),
    ]


def test_reactivation_runs_on_the_leader_only_and_is_skipped_when_not_installed(engine: Engine) -> None:
    factory = factory_for(engine)
    config = make_config([])
    clock = FrozenClock(local(2026, 11, 23, 10, 0))
    leader = Scheduler(factory, lambda: config, clock, holder="a", reactivation=fake_capabilities.run_reactivation)
    standby = Scheduler(factory, lambda: config, clock, holder="b", reactivation=fake_capabilities.run_reactivation)
    assert leader.reactivation() == "nudged"
    assert standby.reactivation() is None
    assert fake_capabilities.CALLS == [("reactivation", clock.now())]
    absent = Scheduler(factory, lambda: config, clock, holder="a", reactivation=None)
    assert absent.reactivation() is None


def test_started_scheduler_uses_memory_store_zone_triggers_and_explicit_misfire_grace(engine: Engine) -> None:
    """The APScheduler wiring: its own in-memory store, coalescing, the config's zone, one job per calendar trigger."""
    factory = factory_for(engine)
    config = make_config(
        [
            {"id": "daily", "when": {"time": "10:00"}, "to": {"all": True}, "content": {"text": "早安"}},
            {
                "id": "past",
                "when": {"date": "2020-01-01", "time": "10:00"},
                "to": {"all": True},
                "content": {"text": "旧"},
            },
        ]
    )
    clock = FrozenClock(local(2026, 11, 23, 9, 0))
    scheduler = Scheduler(factory, lambda: config, clock, holder="solo")
    scheduler.start()
    try:
        jobs = {job.id: job for job in scheduler.jobs()}
        assert set(jobs) == {"lease", "standby", "calendar-sweep", "deadlines", "reactivation", "slot:daily:0"}
        assert jobs["standby"].trigger.interval.total_seconds() == 1
        assert str(jobs["slot:daily:0"].trigger.timezone) == "Asia/Shanghai"
        assert all(job.coalesce and job.misfire_grace_time == 60 and job.max_instances == 1 for job in jobs.values())
        assert scheduler.leader.leading
    finally:
        scheduler.stop()
    assert not scheduler.leader.leading


def test_the_scheduler_a_process_runs_calls_every_capabilitys_deadline_job(services: Services) -> None:
    """`serve` and `groupbot scheduler` build the scheduler with the registry's jobs: quizzes and deals close."""
    leader = scheduler_for(services, holder="leader")
    assert leader.deadlines() == {"quiz:close_due_quizzes": 0, "groupbuy:close_due_groupbuys": 0}
