"""The APScheduler side: jobs on triggers in the configured time zone, each acting only while this process leads."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.config.core import Config
from bot.registry import DeadlineJob
from bot.services import Services
from scheduler.calendar.config import CALENDAR_SECTION
from scheduler.calendar.slots import CalendarReport, run_calendar, triggers
from scheduler.config import SCHEDULER_SECTION
from scheduler.deadlines import run_deadlines
from scheduler.leader import Leadership
from scheduler.reactivation.ladder import run_reactivation

log = logging.getLogger(__name__)

# A standby looks at the lease this often, so it takes over about one second after the lease lapses
# rather than up to `renew_seconds` later; a look is one conditional UPDATE.
STANDBY_POLL_SECONDS = 1.0
# A job that could not start on time still runs this late; later than that the next run (or the calendar
# sweep, which finds missed slots itself) takes over. APScheduler's default of 1 s would drop jobs under load.
MISFIRE_GRACE_SECONDS = 60


def scheduler_for(services: Services, *, holder: str | None = None) -> Scheduler:
    """The scheduler a process runs: the services' database, live config and clock, the registry's deadline jobs."""
    return Scheduler(
        services.session_factory,
        services.config,
        services.clock,
        holder=holder,
        deadline_jobs=services.registry.deadline_jobs(),
    )


class Scheduler:
    """One process's scheduler: build it, `start()`, and `stop()` on shutdown (which releases the lease)."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        config: Callable[[], Config],
        clock: Clock,
        *,
        holder: str | None = None,
        deadline_jobs: Sequence[tuple[str, DeadlineJob]] = (),
        reactivation: Callable[[sessionmaker[Session], Config, datetime], Any] | None = run_reactivation,
    ):
        self._session_factory = session_factory
        self._config = config
        self._clock = clock
        self._deadline_jobs = tuple(deadline_jobs)
        self._reactivation = reactivation
        self.leader = Leadership(session_factory, config, clock, holder=holder)
        self._calendar_lock = threading.Lock()
        self._synced: Config | None = None
        self._aps: BackgroundScheduler | None = None

    # --- the jobs; each is safe to call directly (tests do) and acts only while this process leads ---

    def renew(self) -> bool:
        """Keep (or, as a standby, try to take) the lease; keep the calendar's triggers in step with the config."""
        leading = self.leader.ensure()
        self._sync_entry_jobs()
        return leading

    def stand_by(self) -> bool:
        """As a standby, try to take a lapsed lease; the leader renews on its own rhythm instead."""
        return self.leader.leading or self.renew()

    def calendar(self) -> CalendarReport | None:
        """Post the slots that are due; None when another process leads."""
        if not self.leader.ensure():
            return None
        # Entry triggers and the sweep can fire together; one pass at a time is enough.
        with self._calendar_lock:
            return run_calendar(self._session_factory, self._config(), self._clock.now(), worker=self.leader.holder)

    def deadlines(self) -> dict[str, int] | None:
        """Run the capabilities' deadline jobs (close due quizzes, group-buys); None when another process leads."""
        if not self.leader.ensure():
            return None
        return run_deadlines(self._session_factory, self._config(), self._clock.now(), self._deadline_jobs)

    def reactivation(self) -> Any:
        """Run one reactivation pass (when given one); None when another process leads."""
        if not self.leader.ensure() or self._reactivation is None:
            return None
        return self._reactivation(self._session_factory, self._config(), self._clock.now())

    # --- APScheduler wiring ---

    def start(self) -> None:
        """Start the background scheduler (an in-memory job store of its own: stores are never shared)."""
        config = self._config()
        settings = SCHEDULER_SECTION.of(config)
        aps = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(max_workers=4)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_SECONDS},
            timezone=config.zone,
        )
        self._aps = aps
        self.renew()
        aps.add_job(self._guard(self.renew), IntervalTrigger(seconds=settings.renew_seconds), id="lease")
        aps.add_job(self._guard(self.stand_by), IntervalTrigger(seconds=STANDBY_POLL_SECONDS), id="standby")
        aps.add_job(self._guard(self.calendar), IntervalTrigger(seconds=settings.tick_seconds), id="calendar-sweep")
        aps.add_job(self._guard(self.deadlines), CronTrigger(second=0, timezone=config.zone), id="deadlines")
        aps.add_job(
            self._guard(self.reactivation),
            IntervalTrigger(minutes=settings.reactivation_minutes),
            id="reactivation",
        )
        self._sync_entry_jobs()
        aps.start()
        log.info(
            "scheduler %s started (lease %gs, renew %gs, calendar entries %d)",
            self.leader.holder,
            settings.lease_seconds,
            settings.renew_seconds,
            len(CALENDAR_SECTION.of(config)),
        )

    def jobs(self) -> list[Any]:
        """The APScheduler jobs of a started scheduler (empty before `start()`)."""
        return self._aps.get_jobs() if self._aps is not None else []

    def stop(self) -> None:
        """Stop the jobs (waiting for running ones) and release the lease."""
        if self._aps is not None and self._aps.running:
            self._aps.shutdown(wait=True)
        self.leader.release()

    def _sync_entry_jobs(self) -> None:
        # One cron job per calendar trigger makes slots go out on the minute; the sweep catches the rest.
        aps, config = self._aps, self._config()
        if aps is None or config is self._synced:
            return
        for job in aps.get_jobs():
            if job.id.startswith("slot:"):
                job.remove()
        now = self._clock.now()
        for entry in CALENDAR_SECTION.of(config):
            if not entry.enabled:
                continue
            for index, (trigger, _content, _days, _label) in enumerate(triggers(entry, config)):
                if trigger.get_next_fire_time(None, now) is None:
                    continue  # a date or campaign day already past
                aps.add_job(self._guard(self.calendar), trigger, id=f"slot:{entry.id}:{index}")
        self._synced = config

    @staticmethod
    def _guard(job: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            try:
                job()
            except Exception:
                log.exception("scheduler job %s failed; it runs again at its next time", job.__name__)

        run.__name__ = job.__name__
        run.__qualname__ = f"scheduler.{job.__name__}"  # what APScheduler names the job in its warnings
        return run
