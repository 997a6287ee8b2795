"""Measure the reactivation pass over many members: the dormant query's plan and the time of one planning pass.

Usage: python bench/dormant_scan.py [--count 1000000] [--groups 2000] [--backend sqlite|postgresql|both]
                                    [--database-url URL]

Builds `--count` open memberships spread over `--groups` configured groups, last active evenly over
the past `--days-spread` days, with fast set-based inserts (a recursive CTE on SQLite,
generate_series on PostgreSQL). Then, per backend, prints:
- how many members sit in the ladder's dormant window (the only ones a pass should read);
- the plan of the step-1 dormant query (EXPLAIN QUERY PLAN / EXPLAIN ANALYZE);
- the time of that query and of one whole planning pass (`run_reactivation`), and of a second pass
  at the same moment (everything recorded or capped: what the scheduler pays every few minutes).

SQLite uses a file in a temporary directory. PostgreSQL uses a throwaway schema in the database of
`--database-url` (default: $GROUPBOT_BENCH_DATABASE_URL, else $GROUPBOT_TEST_DATABASE_URL), dropped at the end.
Use `--count 2000` for a quick smoke run.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from sqlalchemy import event, func, select, text  # noqa: E402
from sqlalchemy.engine import Engine, make_url  # noqa: E402

from bot.config.core import Config  # noqa: E402
from models import migrate  # noqa: E402
from models.db import make_engine, make_session_factory  # noqa: E402
from models.membership import Membership  # noqa: E402
from models.nudge import dormant_query  # noqa: E402
from scheduler.reactivation.config import REACTIVATION_SECTION  # noqa: E402
from scheduler.reactivation.ladder import run_reactivation  # noqa: E402
from tests.conftest import write_yaml  # noqa: E402
from tests.factories import load_config  # noqa: E402

# 10:00 in Shanghai: outside the default quiet hours.
NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
SQLITE_FORMAT = "%Y-%m-%d %H:%M:%S"
LONG_LIST = re.compile(r"\{[^{}]{120,}\}")


def _config(workdir: Path, url: str, groups: int) -> Config:
    data = {
        "timezone": "Asia/Shanghai",
        "database_url": url,
        "roles": {"guides": ["guide01"]},
        "groups": [
            {"chat_id": f"wrB{i:05d}", "name": f"群{i}", "kind": "internal", "guide": "guide01", "push": "console"}
            for i in range(groups)
        ],
        "reactivation": {"enabled": True, "holdout_percent": 10},
    }
    return load_config(write_yaml(workdir / f"config-{uuid.uuid4().hex[:6]}.yaml", data), environ={})


def _fill_sqlite(engine: Engine, count: int, groups: int, spread_seconds: int) -> None:
    base = NOW.replace(tzinfo=None).strftime(SQLITE_FORMAT)
    # Stored exactly as SQLAlchemy stores UTC datetimes on SQLite, so comparisons with bound values hold.
    stamp = f"strftime('{SQLITE_FORMAT}', '{base}', '-' || ((n * 7919) % {spread_seconds}) || ' seconds') || '.000000'"
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"""
            WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n < {count - 1})
            INSERT INTO memberships (chat_id, user_id, joined_at, left_at, guide, last_active_at)
            SELECT printf('wrB%05d', n % {groups}), printf('u%08d', n), '2025-01-01 00:00:00.000000', NULL,
                   'guide01', {stamp}
            FROM seq
            """
        )
        conn.exec_driver_sql("ANALYZE")


def _fill_postgresql(engine: Engine, count: int, groups: int, spread_seconds: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                """
                INSERT INTO memberships (chat_id, user_id, joined_at, left_at, guide, last_active_at)
                SELECT 'wrB' || lpad((n % :groups)::text, 5, '0'), 'u' || lpad(n::text, 8, '0'),
                       timestamptz '2025-01-01 00:00:00+00', NULL, 'guide01',
                       :now - make_interval(secs => (n::bigint * 7919) % :spread)
                FROM generate_series(0, :count - 1) AS n
                """
            ),
            {"groups": groups, "count": count, "spread": spread_seconds, "now": NOW},
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE memberships")


@contextmanager
def _captured(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """Record the statements (as sent, with their parameters) that run on `engine` meanwhile."""
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", capture)


def measure(engine: Engine, config: Config, label: str) -> None:
    settings = REACTIVATION_SECTION.of(config)
    first, after = settings.ladder[0], settings.ladder[1] if len(settings.ladder) > 1 else None
    silent_until = NOW - timedelta(days=first.after_days)
    silent_since = NOW - timedelta(days=after.after_days if after else settings.window_days)
    factory = make_session_factory(engine)
    with factory() as session:
        total = session.scalar(select(func.count()).select_from(Membership))
        oldest = NOW - timedelta(days=settings.window_days)
        window = session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.last_active_at >= oldest, Membership.last_active_at <= silent_until)
        )
    span = f"{settings.window_days}-{first.after_days} days"
    print(f"[{label}] members {total:,}; in the dormant window ({span}) {window:,}")

    query = dormant_query(
        step=1,
        silent_since=silent_since,
        silent_until=silent_until,
        chat_ids=[group.chat_id for group in config.groups],
        gap_since=NOW - timedelta(hours=settings.min_gap_hours),
        limit=settings.batch_size,
    )
    with engine.connect() as conn:
        with _captured(engine) as seen:
            started = time.perf_counter()
            found = len(conn.execute(query).all())
            elapsed = time.perf_counter() - started
        statement, parameters = seen[-1]
        if engine.dialect.name == "sqlite":
            plan = [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
        else:
            explain = "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "
            plan = [row[0] for row in conn.exec_driver_sql(explain + statement, parameters)]
    print(f"[{label}] dormant query (step 1, limit {settings.batch_size}): {found} rows in {elapsed * 1000:.1f} ms")
    print(f"[{label}] plan:")
    for line in plan:
        # The configured chat ids fill pages; the shape of the plan is what matters.
        print(f"    {LONG_LIST.sub(lambda m: m.group(0)[:40] + ' …}', line)}")

    started = time.perf_counter()
    summary = run_reactivation(factory, config, NOW)
    elapsed = time.perf_counter() - started
    print(
        f"[{label}] planning pass: {elapsed * 1000:.0f} ms; nudged {summary.total_nudged} {summary.nudged}, "
        f"holdout {summary.holdout}, over caps {summary.skipped_caps}"
    )
    started = time.perf_counter()
    again = run_reactivation(factory, config, NOW + timedelta(minutes=5))
    elapsed = time.perf_counter() - started
    print(f"[{label}] next pass (caps spent): {elapsed * 1000:.0f} ms; nudged {again.total_nudged}")


def bench_sqlite(args: argparse.Namespace, workdir: Path) -> None:
    url = f"sqlite:///{workdir / 'dormant.db'}"
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        started = time.perf_counter()
        _fill_sqlite(engine, args.count, args.groups, args.days_spread * 86400)
        print(f"[sqlite] built {args.count:,} memberships in {time.perf_counter() - started:.1f} s")
        measure(engine, _config(workdir, url, args.groups), "sqlite")
    finally:
        engine.dispose()


def bench_postgresql(args: argparse.Namespace, workdir: Path) -> None:
    url = (
        args.database_url
        or os.environ.get("GROUPBOT_BENCH_DATABASE_URL")
        or os.environ.get("GROUPBOT_TEST_DATABASE_URL")
    )
    if not url:
        raise SystemExit("PostgreSQL needs --database-url (or GROUPBOT_BENCH_DATABASE_URL)")
    schema = f"dormant_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))
    admin.autocommit = True
    admin.execute(f'CREATE SCHEMA "{schema}"')
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    engine = make_engine(scoped.render_as_string(hide_password=False))
    try:
        migrate.upgrade(engine)
        started = time.perf_counter()
        _fill_postgresql(engine, args.count, args.groups, args.days_spread * 86400)
        print(f"[postgresql] built {args.count:,} memberships in {time.perf_counter() - started:.1f} s")
        measure(engine, _config(workdir, url, args.groups), "postgresql")
    finally:
        engine.dispose()
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="memberships to build")
    parser.add_argument("--groups", type=int, default=2000, help="configured groups they are spread over")
    parser.add_argument("--days-spread", type=int, default=400, help="last activity is spread over this many days")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--database-url", help="a PostgreSQL database to hold a throwaway schema")
    args = parser.parse_args(argv)
    if args.count < 1 or args.groups < 1:
        parser.error("--count and --groups must be at least 1")
    workdir = Path(tempfile.mkdtemp(prefix="groupbot-dormant-"))
    if args.backend in ("sqlite", "both"):
        bench_sqlite(args, workdir)
    if args.backend in ("postgresql", "both"):
        bench_postgresql(args, workdir)


if __name__ == "__main__":
    main()
