"""Measure encrypted callback handling: verify, decrypt, de-duplicate, route, answer.

Usage: python bench/callback_throughput.py [--requests 2000] [--threads 8] [--database-url URL]

Prints requests per second and latency percentiles for aibot `帮助` (passive encrypted stream
reply) and app `帮助` (outbox row), sequentially and from parallel threads, through the real Flask
app on a fresh database (SQLite file by default; pass a PostgreSQL URL to measure that).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.timing import percentiles, run_in_threads  # noqa: E402
from bot.app import create_app  # noqa: E402
from bot.clock import SystemClock  # noqa: E402
from bot.services import build_services  # noqa: E402
from models import migrate  # noqa: E402
from models.db import make_engine  # noqa: E402
from tests import factories  # noqa: E402
from tests.conftest import base_config, write_yaml  # noqa: E402
from tests.factories import load_handlers  # noqa: E402


def run(client_factory, make_request, count: int, threads: int) -> tuple[float, list[float]]:  # type: ignore[no-untyped-def]
    per_thread = count // threads
    # Encrypting requests is WeCom's work, not ours: build them all before the clock starts.
    prepared = [[make_request() for _ in range(per_thread)] for _ in range(threads)]
    clients: dict[int, object] = {}

    def post(request: tuple[str, bytes]) -> None:
        # One test client per thread, as a real server gives each worker its own connection.
        client = clients.setdefault(threading.get_ident(), client_factory())
        url, body = request
        resp = client.post(url, data=body)  # type: ignore[attr-defined]
        if resp.status_code != 200:
            raise SystemExit(f"unexpected status {resp.status_code}: {resp.get_data(as_text=True)[:200]}")

    return run_in_threads(prepared, post)


def report(label: str, elapsed: float, latencies: list[float]) -> None:
    print(f"{label:<34} {len(latencies) / elapsed:8.0f} req/s   {percentiles(latencies)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="groupbot-bench-"))
    url = args.database_url or f"sqlite:///{workdir}/bench.db"
    engine = make_engine(url)
    migrate.upgrade(engine)
    config = write_yaml(workdir / "config.yaml", base_config(url))
    services = build_services(str(config), registry=load_handlers(), clock=SystemClock(), engine=engine)
    app = create_app(services)
    aibot, wecom = factories.aibot_sender(), factories.app_sender()

    def aibot_request() -> tuple[str, bytes]:
        signed = aibot.json_post(factories.aibot_text("帮助"))
        return f"/wecom/aibot?{signed.query_string}", signed.body

    def app_request() -> tuple[str, bytes]:
        signed = wecom.xml_post(factories.app_text("帮助"))
        return f"/wecom/callback?{signed.query_string}", signed.body

    print(f"database: {engine.dialect.name}; {args.requests} requests per run; Python {sys.version.split()[0]}")
    for label, make in (("aibot 帮助 (stream reply)", aibot_request), ("app 帮助 (outbox row)", app_request)):
        for threads in (1, args.threads):
            elapsed, latencies = run(app.test_client, make, args.requests, threads)
            report(f"{label}, {threads} thread(s)", elapsed, latencies)
    engine.dispose()


if __name__ == "__main__":
    main()
