"""Compare the project with the floor: the same sealed callbacks, served side by side under gunicorn.

Usage: python bench/callback_vs_floor.py [--requests 6000] [--rounds 3] [--connections 16] [--workers 2]
       [--loader auto|wrk|python] [--commands 帮助,签到] [--database-url URL]

The floor (bench/floor_app.py) does only what no WeCom service can skip: verify the signature,
decrypt and parse, then answer an empty 200. The project (`bot.wsgi:app`) does its full work. Both
run under gunicorn with the same workers and get the same distinct requests (a unique MsgId and a
fresh timestamp each, sealed before the clock starts), driven by one load generator: by default two
processes of asyncio connections; `--loader wrk` uses wrk instead (against gunicorn's sync workers,
which close each connection, wrk 4.1 has been seen to leave one request unsent; the row check then
says so). After each run the project's rows are counted (one processed event and one
outbox row per request; for 签到 also one check-in and one ledger row), so a fast wrong answer cannot
pass. Prints req/s, p50 and p99 of each and the ratio, for each command, on a fresh SQLite file and,
with --database-url, on that PostgreSQL database too. On SQLite the project is also served with one
worker, taking its turn in the same rounds, to show whether a second worker adds throughput. It
deletes every row of the database it is given: point it at a database of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from bench.timing import migrate_empty  # noqa: E402
from models.checkin import Checkin  # noqa: E402
from models.db import make_engine  # noqa: E402
from models.ledger import PointsEntry  # noqa: E402
from models.outbox import OutboxMessage  # noqa: E402
from models.processed_event import ProcessedEvent  # noqa: E402
from tests import factories  # noqa: E402
from tests.conftest import base_config, write_yaml  # noqa: E402

Request = tuple[str, bytes]

# wrk walks its own slice of the prepared requests; once a thread has sent them all it sends a cheap
# GET that the row checks ignore, and it stops when every one of its requests was answered 200.
WRK_SCRIPT = r"""
local threads = {}
local counter = 0
function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end
function init(args)
  local total_threads = tonumber(args[2])
  local mine = {}
  local i = 0
  for line in io.lines(args[1]) do
    if i % total_threads == wrk.thread:get("id") then
      local tab = line:find("\t", 1, true)
      table.insert(mine, wrk.format("POST", line:sub(1, tab - 1), {["Content-Type"] = "text/xml"}, line:sub(tab + 1)))
    end
    i = i + 1
  end
  requests, sent, ok, bad, connections = mine, 0, 0, 0, tonumber(args[3])
  idle = wrk.format("GET", "/bench-idle")
end
function request()
  sent = sent + 1
  if sent <= #requests then return requests[sent] end
  return idle
end
function response(status, headers, body)
  if status == 200 then ok = ok + 1 elseif status ~= 404 then bad = bad + 1 end
  -- Every connection has moved on to the idle GET: each prepared request was sent and answered.
  if ok + bad >= #requests or sent >= #requests + connections then wrk.thread:stop() end
end
function done(summary, latency, reqs)
  local ok_total, bad_total = 0, 0
  for _, thread in ipairs(threads) do
    ok_total = ok_total + thread:get("ok")
    bad_total = bad_total + thread:get("bad")
  end
  io.write(string.format('BENCH {"sent": %d, "ok": %d, "bad": %d, "seconds": %f, "p50": %f, "p99": %f}\n',
    threads[1]:get("sent"), ok_total, bad_total, summary.duration / 1e6,
    latency:percentile(50) / 1e3, latency:percentile(99) / 1e3))
end
"""


@dataclass
class Figures:
    ok: int
    bad: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.ok / self.seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def gunicorn(app: str, workers: int, env: dict[str, str]) -> Iterator[int]:
    """Serve `app` with `workers` sync workers on a free port until the block ends."""
    port = free_port()
    binary = str(Path(sys.executable).parent / "gunicorn")
    command = [binary, "-w", str(workers), "-b", f"127.0.0.1:{port}", "--chdir", str(ROOT), "--log-level", "warning"]
    process = subprocess.Popen([*command, app], env={**os.environ, **env}, cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None:
                    raise SystemExit(f"gunicorn {app} exited with {process.returncode}") from None
                time.sleep(0.2)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


# ----------------------------------------------------------------- load generators


def run_wrk(port: int, requests: list[Request], connections: int, workdir: Path) -> Figures:
    """Send every request once with wrk; its Lua walks the prepared list."""
    # One wrk thread drives all connections (it is C and epoll; one core is plenty): a thread that
    # stops early would leave connections in the accept queue that hold a sync worker until timeout.
    threads = 1
    lines = workdir / "requests.txt"
    lines.write_bytes(b"".join(url.encode() + b"\t" + body + b"\n" for url, body in requests))
    script = workdir / "bench.lua"
    script.write_text(WRK_SCRIPT)
    budget = max(60, len(requests) // 20)
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{budget}s", "--timeout", "30s"]
    command += ["-s", str(script), f"http://127.0.0.1:{port}", "--", str(lines), str(threads), str(connections)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    figures = json.loads(next(line for line in out.splitlines() if line.startswith("BENCH "))[6:])
    return Figures(figures["ok"], figures["bad"], figures["seconds"], figures["p50"], figures["p99"])


async def _drive(port: int, requests: list[Request], connections: int) -> tuple[list[float], int]:
    """Send `requests` over `connections` concurrent connections; return each latency and the non-200 count."""
    latencies: list[float] = []
    bad = 0
    queue = iter(requests)

    async def one_connection() -> None:
        nonlocal bad
        for url, body in queue:
            head = f"POST {url} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n"
            head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            started = time.perf_counter()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(head.encode() + body)
            status = (await reader.readline()).split(b" ")[1]
            await reader.read()  # gunicorn's sync workers close the connection after each answer
            writer.close()
            latencies.append(time.perf_counter() - started)
            if status != b"200":
                bad += 1

    await asyncio.gather(*(one_connection() for _ in range(connections)))
    return latencies, bad


def _python_process(port: int, requests: list[Request], connections: int, start: float, out: object) -> None:
    while time.time() < start:
        time.sleep(0.001)
    latencies, bad = asyncio.run(_drive(port, requests, connections))
    out.put((latencies, bad, time.time()))  # type: ignore[attr-defined]


def run_python(port: int, requests: list[Request], connections: int) -> Figures:
    """Send every request once from two processes of asyncio connections (one process cannot keep up)."""
    processes = 2
    start = time.time() + 1.0
    out: multiprocessing.Queue[tuple[list[float], int, float]] = multiprocessing.Queue()
    slices = [requests[i::processes] for i in range(processes)]
    share = [connections // processes + (1 if i < connections % processes else 0) for i in range(processes)]
    pool = [
        multiprocessing.Process(target=_python_process, args=(port, slices[i], share[i], start, out))
        for i in range(processes)
    ]
    for process in pool:
        process.start()
    results = [out.get() for _ in pool]
    for process in pool:
        process.join()
    latencies = sorted(latency for result in results for latency in result[0])
    bad = sum(result[1] for result in results)
    seconds = max(result[2] for result in results) - start

    def at(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    return Figures(len(latencies) - bad, bad, seconds, at(0.50), at(0.99))


# ----------------------------------------------------------------- the comparison


def sealed_requests(command: str, count: int, tag: str) -> list[Request]:
    """`count` distinct app callbacks of `command`, each from its own member with its own MsgId."""
    sender = factories.app_sender()
    prepared = []
    for i in range(count):
        signed = sender.xml_post(factories.app_text(command, user=f"{tag}{i:06d}"))
        prepared.append((f"/wecom/callback?{signed.query_string}", signed.body))
    return prepared


def count_rows(engine: Engine, command: str) -> dict[str, int]:
    tables = {"processed events": ProcessedEvent, "outbox rows": OutboxMessage}
    if command == "签到":
        tables |= {"check-ins": Checkin, "ledger rows": PointsEntry}
    with engine.connect() as conn:
        return {name: int(conn.scalar(select(func.count()).select_from(model)) or 0) for name, model in tables.items()}


def combined(runs: list[Figures]) -> Figures:
    """Rounds added up: requests over time; the percentiles are the rounds' medians."""
    middle = len(runs) // 2
    return Figures(
        sum(r.ok for r in runs),
        sum(r.bad for r in runs),
        sum(r.seconds for r in runs),
        sorted(r.p50_ms for r in runs)[middle],
        sorted(r.p99_ms for r in runs)[middle],
    )


def load(loader: str, port: int, requests: list[Request], connections: int, workdir: Path) -> Figures:
    if loader == "wrk":
        return run_wrk(port, requests, connections, workdir)
    return run_python(port, requests, connections)


def compare(url: str, args: argparse.Namespace, loader: str, workdir: Path) -> None:
    engine = make_engine(url)
    migrate_empty(engine)
    config = write_yaml(workdir / f"config-{engine.dialect.name}.yaml", base_config(url))
    floor_env = {
        "FLOOR_TOKEN": factories.APP_TOKEN,
        "FLOOR_AES_KEY": factories.APP_AES_KEY,
        "FLOOR_CORP_ID": factories.CORP_ID,
    }
    # On SQLite a project with one worker takes its turn too (on requests of its own), to show
    # whether a second worker adds throughput or only waits for the write lock.
    single = engine.dialect.name == "sqlite" and args.workers > 1
    with (
        gunicorn("bench.floor_app:create()", args.workers, floor_env) as floor_port,
        gunicorn("bot.wsgi:app", args.workers, {"GROUPBOT_CONFIG": str(config)}) as project_port,
        gunicorn("bot.wsgi:app", 1, {"GROUPBOT_CONFIG": str(config)}) if single else nullcontext(0) as single_port,
    ):
        for command in args.commands.split(","):
            # Warm all: every worker imports, connects and fills its statement caches before the clock starts.
            warm = sealed_requests(command, 100, "warm")
            for port in (floor_port, project_port, single_port):
                if port:
                    load("python", port, warm, args.connections, workdir)
            migrate_empty(engine)
            requests = sealed_requests(command, args.requests, "m")
            own = sealed_requests(command, args.requests, "s") if single else []
            # Floor and project take turns on slices of the requests, so a neighbour's load that comes
            # and goes on a shared machine weighs on both sides of the ratio alike.
            floor_runs, project_runs, single_runs = [], [], []
            for i in range(args.rounds):
                batch = requests[i :: args.rounds]
                floor_runs.append(load(loader, floor_port, batch, args.connections, workdir))
                project_runs.append(load(loader, project_port, batch, args.connections, workdir))
                if single:
                    single_runs.append(load(loader, single_port, own[i :: args.rounds], args.connections, workdir))
            floor, project = combined(floor_runs), combined(project_runs)
            expected = args.requests * (2 if single else 1)
            rows = count_rows(engine, command)
            short = {name: n for name, n in rows.items() if n != expected}
            label = f"{engine.dialect.name} {command}"
            shown = [("floor", floor), ("project", project)]
            if single:
                shown.append(("project, one worker", combined(single_runs)))
            for name, figures in shown:
                print(
                    f"{label} {name:<8} {figures.rate:7.0f} req/s  p50 {figures.p50_ms:6.1f} ms"
                    f"  p99 {figures.p99_ms:6.1f} ms"
                )
            print(f"{label} ratio    {project.rate / floor.rate:.2f}x")
            if single:
                print(f"{label} {args.workers} workers / 1 worker: {project.rate / combined(single_runs).rate:.2f}x")
            if floor.bad or project.bad or short:
                print(f"{label} NOT ALL DONE: floor non-200 {floor.bad}, project non-200 {project.bad}, rows {rows}")
            else:
                print(f"{label} rows: " + ", ".join(f"{n} {name}" for name, n in rows.items()))
            migrate_empty(engine)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="turns floor and project take on the requests")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--loader", choices=["auto", "wrk", "python"], default="auto", help="auto: python")
    parser.add_argument("--commands", default="帮助,签到")
    parser.add_argument("--database-url", default=None, help="a PostgreSQL database of its own (it is emptied)")
    args = parser.parse_args()
    loader = args.loader if args.loader != "auto" else "python"
    if loader == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed; use --loader python")
    workdir = Path(tempfile.mkdtemp(prefix="groupbot-floor-"))
    print(f"{args.requests} distinct requests per run, {args.connections} connections, gunicorn -w{args.workers}, ")
    print(f"load generator {loader}; load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    urls = [f"sqlite:///{workdir}/bench.db"] + ([args.database_url] if args.database_url else [])
    for url in urls:
        compare(url, args, loader, workdir)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
