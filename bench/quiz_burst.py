"""Measure a quiz burst: many members answer one open quiz through the encrypted aibot HTTP callback.

Usage: python bench/quiz_burst.py [--members 500] [--threads 50] [--database-url URL]

The callbacks are encrypted and signed before the clock starts (that is WeCom's work); each timed
request is verified, decrypted, de-duplicated, judged, numbered under the quiz row's lock, committed
and answered with an encrypted stream reply. Then the quiz is closed (points for every correct
answer through the ledger, the result queued). Prints answers per second, latency percentiles and
the close time, on a fresh SQLite file by default, or on the PostgreSQL URL given (its tables are
emptied first).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.timing import migrate_empty, percentiles, run_in_threads  # noqa: E402
from bot.app import create_app  # noqa: E402
from bot.clock import FrozenClock  # noqa: E402
from bot.services import build_services  # noqa: E402
from handlers.quiz.commands import close_due_quizzes  # noqa: E402
from models import ledger  # noqa: E402
from models.db import make_engine  # noqa: E402
from tests import factories  # noqa: E402
from tests.conftest import write_yaml  # noqa: E402
from tests.factories import load_handlers  # noqa: E402
from tests.handlers.quiz.chat import GROUP, quiz_config  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=500)
    parser.add_argument("--threads", type=int, default=50)
    parser.add_argument("--database-url")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        engine = (
            make_engine(url, pool_size=args.threads + 2, max_overflow=0)
            if url.startswith("postgres")
            else make_engine(url)
        )
        migrate_empty(engine)
        path = write_yaml(Path(tmp) / "config.yaml", quiz_config(url, max_seconds=3600))
        clock = FrozenClock(datetime(2026, 11, 22, 2, 0, tzinfo=UTC))
        services = build_services(str(path), registry=load_handlers(), clock=clock, engine=engine)
        app = create_app(services)
        sender = factories.aibot_sender()

        def post(signed: factories.Signed) -> str:
            resp = app.test_client().post(
                f"/wecom/aibot?{signed.query_string}", data=signed.body, content_type="application/json"
            )
            return str(sender.open_reply(resp.get_json())["stream"]["content"])

        start = sender.json_post(factories.aibot_text("竞猜 开始 q001 3600", user="guide01", chat=GROUP))
        if not post(start).startswith("【有奖竞猜】"):
            raise SystemExit("the quiz did not start")
        signed = [
            sender.json_post(
                factories.aibot_text("B" if i % 3 else "A", user=f"m{i:05d}", chat=GROUP, msgid=uuid.uuid4().hex)
            )
            for i in range(args.members)
        ]

        def answer(item: factories.Signed) -> None:
            if not post(item).startswith("收到"):
                raise SystemExit("an answer was not recorded")

        batches = [signed[i :: args.threads] for i in range(args.threads)]
        elapsed, latencies = run_in_threads(batches, answer)
        print(f"{engine.dialect.name}: {args.members} members, {args.threads} threads")
        print(f"answers via HTTP callback  {len(latencies) / elapsed:8.1f} answers/s  {percentiles(latencies)}")
        print(f"burst wall time            {elapsed:8.2f} s")

        clock.advance(seconds=3601)
        started = time.perf_counter()
        closed = close_due_quizzes(services.session_factory, services.config(), clock.now())
        close_seconds = time.perf_counter() - started
        with services.session_factory() as session:
            problems = ledger.audit(session)
            rows = ledger.entries_count(session)
        print(f"close (points + result)    {close_seconds * 1000:8.1f} ms for {rows} ledger rows, closed {closed}")
        print(f"ledger audit               {'OK' if not problems else f'{len(problems)} MISMATCHES'}")
        engine.dispose()


if __name__ == "__main__":
    main()
