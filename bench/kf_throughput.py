"""Measure the 微信客服 inbound path: kf/sync_msg pull → dispatch → reply row in the outbox.

Usage: python bench/kf_throughput.py [--messages 2000] [--pullers 1] [--database-url URL]

Customers write to the fake WeCom (HTTP on 127.0.0.1, WeCom's paging rules); pullers pull the
pages into the database (cursor and de-dup rows in one transaction), handle every message through
the real dispatcher (签到 and 积分 from 500 customers of one customer group) and leave one reply row
each. Prints messages handled per second, on a fresh SQLite file by default or on the PostgreSQL
URL given (its tables are emptied first).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.timing import migrate_empty  # noqa: E402
from bot.clock import FrozenClock  # noqa: E402
from bot.services import build_services  # noqa: E402
from bot.transports.wecom import build_wecom_transport  # noqa: E402
from handlers.kf import KfPuller  # noqa: E402
from models.db import make_engine  # noqa: E402
from models.kf import KfInbox  # noqa: E402
from models.membership import join  # noqa: E402
from models.outbox import OutboxMessage  # noqa: E402
from tests.conftest import write_yaml  # noqa: E402
from tests.factories import load_handlers  # noqa: E402
from tests.fake_wecom import start_fake_wecom  # noqa: E402
from tests.handlers.kf.harness import GROUP, KFID, kf_config  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--pullers", type=int, default=1)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="kf-bench-"))
    url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    engine = make_engine(url)
    migrate_empty(engine)
    fake, server, thread = start_fake_wecom()
    clock = FrozenClock(datetime(2026, 11, 22, 2, 0, tzinfo=UTC))
    fake.kf_account(KFID)
    fake.now = lambda: clock.now().timestamp()
    path = write_yaml(workdir / "config.yaml", kf_config(url, fake))
    services = build_services(str(path), registry=load_handlers(), clock=clock, engine=engine, config_settle_seconds=0)
    with services.session_factory.begin() as session:
        for index in range(500):
            join(session, chat_id=GROUP, user_id=f"wmb{index:05d}", at=clock.now(), guide="guide01")
    for index in range(args.messages):
        fake.customer_says(KFID, f"wmb{index % 500:05d}", "签到" if index % 2 == 0 else "积分")

    pullers = [
        KfPuller(
            build_wecom_transport(services.config, services.session_factory, clock).api,
            services.session_factory,
            services.config,
            clock,
            services.dispatcher.handle,
            worker=f"bench-{i}",
        )
        for i in range(args.pullers)
    ]
    started = time.perf_counter()
    threads = [threading.Thread(target=p.run_pass, kwargs={"everything": True}) for p in pullers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    with services.session_factory() as session:
        replies = session.query(OutboxMessage).filter(OutboxMessage.channel == "kf_message").count()
        handled = session.query(KfInbox).filter(KfInbox.handled_at.is_not(None)).count()
    server.shutdown()
    thread.join(5)
    backend = "postgresql" if url.startswith("postgresql") else "sqlite"
    print(f"kf pull → handle → reply row on {backend}, {args.pullers} puller(s), {args.messages} messages")
    print(f"  handled {handled}, reply rows {replies}, {elapsed:.2f} s, {handled / elapsed:.0f} messages/s")


if __name__ == "__main__":
    main()
