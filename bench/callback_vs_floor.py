"""Compare the project with the floor: the same sealed callbacks, served side by side under gunicorn.

Usage: python bench/callback_vs_floor.py [--seconds 10] [--rounds 3] [--connections 16] [--workers 2]
       [--threads 1] [--loader auto|wrk|python] [--requests 2000] [--commands 帮助,签到]
       [--log-level INFO] [--durable-floor] [--written-floor] [--database-url URL [--no-sqlite]]

The floor (bench/floor_app.py) does only what no WeCom service can skip: verify the signature,
decrypt and parse, then answer an empty 200. The project (`bot.wsgi:app`) does its full work. Both
run under gunicorn with the same workers and get distinct sealed requests (a unique MsgId and a
fresh timestamp each, sealed before the clock starts), driven by one load generator: wrk when it is
installed (each run lasts `--seconds`; every request is sent at most once), else two processes of
asyncio connections sending `--requests` a run (they share the cores with the servers and cap the
floor well below what wrk measures, so their ratios flatter the project). After the runs the
project's rows are counted (one processed event and one outbox row per request answered; for 签到
also one check-in and one ledger row), so a fast wrong answer cannot pass. Prints req/s, p50 and
p99 of each and the ratio, for each command, on a fresh SQLite file and, with --database-url, on that
PostgreSQL database too. On SQLite the project is also served with one worker, taking its turn in
the same rounds, to show whether a second worker adds throughput. Two more servers bound what any
design could reach: `--durable-floor` commits one de-dup row per callback, `--written-floor`
writes every row the command writes, hand-written on the raw driver, and nothing else. It
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

from bench.floor_app import DURABLE_KEY_PREFIX, WRITTEN_USER_PREFIX  # noqa: E402
from bench.timing import migrate_empty  # noqa: E402
from models.checkin import Checkin  # noqa: E402
from models.db import make_engine  # noqa: E402
from models.ledger import PointsEntry  # noqa: E402
from models.outbox import OutboxMessage  # noqa: E402
from models.processed_event import ProcessedEvent  # noqa: E402
from tests import factories  # noqa: E402
from tests.conftest import base_config, write_yaml  # noqa: E402

Request = tuple[str, bytes]

# wrk runs for a fixed time and walks the prepared requests once, each sent at most once; should the
# list run out, it sends a cheap GET the counts ignore (and the run says it ran out). wrk decides
# nothing else: the rows the project wrote are checked against the 200s it counted.
WRK_SCRIPT = r"""
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  requests, sent, ok, bad, idle_sent = {}, 0, 0, 0, 0
  for line in io.lines(args[1]) do
    local tab = line:find("\t", 1, true)
    table.insert(requests, wrk.format("POST", line:sub(1, tab - 1), {["Content-Type"] = "text/xml"}, line:sub(tab + 1)))
  end
  idle = wrk.format("GET", "/bench-idle")
end
function request()
  if sent < #requests then
    sent = sent + 1
    return requests[sent]
  end
  idle_sent = idle_sent + 1
  return idle
end
function response(status, headers, body)
  if status == 200 then ok = ok + 1 elseif status ~= 404 then bad = bad + 1 end
end
function done(summary, latency, reqs)
  local t = threads[1]
  local shape = 'BENCH {"sent": %d, "ok": %d, "bad": %d, "ran_out": %d, "seconds": %f, "p50": %f, "p99": %f}\n'
  io.write(string.format(shape,
    t:get("sent"), t:get("ok"), t:get("bad"), t:get("idle_sent"), summary.duration / 1e6,
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
    sent: int = 0

    @property
    def rate(self) -> float:
        return self.ok / self.seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def gunicorn(app: str, workers: int, env: dict[str, str], threads: int = 1) -> Iterator[int]:
    """Serve `app` with `workers` workers (of `threads` threads each) on a free port until the block ends."""
    port = free_port()
    binary = str(Path(sys.executable).parent / "gunicorn")
    command = [binary, "-w", str(workers), "-b", f"127.0.0.1:{port}", "--chdir", str(ROOT), "--log-level", "warning"]
    if threads > 1:
        command += ["--threads", str(threads)]
    # The project logs every callback at INFO: the servers' lines go to a temporary file, not between the figures.
    log_path = Path(tempfile.gettempdir()) / f"groupbot-bench-{port}.log"
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [*command, app], env={**os.environ, **env}, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None:
                    tail = log_path.read_text(errors="replace")[-2000:]
                    raise SystemExit(f"gunicorn {app} exited with {process.returncode}:\n{tail}") from None
                time.sleep(0.2)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        log_file.close()
        log_path.unlink(missing_ok=True)


# ----------------------------------------------------------------- load generators


class RanOut(Exception):
    """wrk sent every prepared request before its time was up."""


def run_wrk(port: int, requests: list[Request], connections: int, workdir: Path, seconds: float) -> Figures:
    """Send requests from the list, each at most once, for `seconds` with wrk; count the 200s."""
    # One wrk thread drives all connections: it is C and epoll, and one core is plenty.
    lines = workdir / "requests.txt"
    lines.write_bytes(b"".join(url.encode() + b"\t" + body + b"\n" for url, body in requests))
    script = workdir / "bench.lua"
    script.write_text(WRK_SCRIPT)
    command = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds:g}s", "--timeout", "30s", "-s", str(script)]
    command += [f"http://127.0.0.1:{port}", "--", str(lines)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    figures = json.loads(next(line for line in out.splitlines() if line.startswith("BENCH "))[6:])
    if figures["ran_out"]:
        raise RanOut(f"wrk sent all {len(requests)} prepared requests before {seconds:g} s were up")
    return Figures(figures["ok"], figures["bad"], figures["seconds"], figures["p50"], figures["p99"], figures["sent"])


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

    return Figures(len(latencies) - bad, bad, seconds, at(0.50), at(0.99), len(latencies))


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
    """The project's rows (the durable and written floors' rows left out)."""
    counted = {
        "processed events": ~ProcessedEvent.dedup_key.startswith(DURABLE_KEY_PREFIX),
        "outbox rows": ~func.coalesce(OutboxMessage.origin, "").startswith(DURABLE_KEY_PREFIX),
    }
    if command == "签到":
        counted |= {
            "check-ins": ~Checkin.user_id.startswith(WRITTEN_USER_PREFIX),
            "ledger rows": ~PointsEntry.key.startswith(DURABLE_KEY_PREFIX),
        }
    with engine.connect() as conn:
        return {name: int(conn.scalar(select(func.count()).where(where)) or 0) for name, where in counted.items()}


def count_floor_rows(engine: Engine, command: str) -> tuple[dict[str, int], dict[str, int]]:
    """The durable and written floors' claims, and the rows only the written floor writes."""
    counted = {"written floor answers": OutboxMessage.origin.startswith(DURABLE_KEY_PREFIX)}
    if command == "签到":
        counted |= {
            "written floor check-ins": Checkin.user_id.startswith(WRITTEN_USER_PREFIX),
            "written floor ledger rows": PointsEntry.key.startswith(DURABLE_KEY_PREFIX),
        }
    with engine.connect() as conn:
        claims = select(func.count()).where(ProcessedEvent.dedup_key.startswith(DURABLE_KEY_PREFIX))
        written = {name: int(conn.scalar(select(func.count()).where(where)) or 0) for name, where in counted.items()}
        return {"floor claims": int(conn.scalar(claims) or 0)}, written


def combined(runs: list[Figures]) -> Figures:
    """Rounds added up: requests over time; the percentiles are the rounds' medians."""
    middle = len(runs) // 2
    return Figures(
        sum(r.ok for r in runs),
        sum(r.bad for r in runs),
        sum(r.seconds for r in runs),
        sorted(r.p50_ms for r in runs)[middle],
        sorted(r.p99_ms for r in runs)[middle],
        sum(r.sent for r in runs),
    )


class Supply:
    """Sealed distinct requests of one command, handed out in order and sealed as they are needed."""

    def __init__(self, command: str, tag: str):
        self.command, self.tag = command, tag
        self.pool: list[Request] = []
        self.cursor = 0

    def peek(self, count: int, start: int | None = None) -> list[Request]:
        start = self.cursor if start is None else start
        if start + count > len(self.pool):
            self.pool += sealed_requests(self.command, start + count - len(self.pool), f"{self.tag}{len(self.pool)}-")
        return self.pool[start : start + count]

    def used(self, count: int) -> None:
        self.cursor += count


class Loader:
    """One load generator for both sides: wrk for `seconds` a run, or the Python one for a fixed count."""

    def __init__(self, kind: str, connections: int, workdir: Path, seconds: float, count: int):
        self.kind, self.connections, self.workdir = kind, connections, workdir
        self.seconds, self.count = seconds, count
        # Requests prepared per second of a wrk run: more than a small machine's floor answers; doubled
        # (and the floor's run repeated) whenever the floor sends them all early.
        self.per_second = 4000

    def run(self, port: int, supply: Supply, *, reuse: bool = False) -> Figures:
        """Drive `port` with the supply's next requests; `reuse` (the floor, which stores nothing) starts over."""
        if self.kind == "wrk":
            figures = self._run_wrk(port, supply, reuse)
        else:
            batch = supply.peek(self.count, 0 if reuse else None)
            figures = run_python(port, batch, self.connections)
        if not reuse:
            supply.used(figures.sent)
        return figures

    def _run_wrk(self, port: int, supply: Supply, reuse: bool) -> Figures:
        while True:
            batch = supply.peek(int(self.seconds * self.per_second), 0 if reuse else None)
            try:
                return run_wrk(port, batch, self.connections, self.workdir, self.seconds)
            except RanOut as exc:
                # Only the floor, which stores nothing and goes first, may run again on more requests:
                # a run of the project that ran out has left rows the counts could not tell apart.
                if not reuse:
                    raise SystemExit(f"{exc}; the project outran the floor's supply") from None
                self.per_second *= 2
                print(f"({exc}; preparing {int(self.seconds * self.per_second)} a run from now on)")


def check_rows(rows: dict[str, int], runs: list[Figures]) -> str | None:
    """Say what is wrong when the rows do not match the requests the project answered, else None.

    Every request answered 200 left its rows; a request still in flight when a timed run ended may
    have left them too without being counted, so a row count may lie between the 200s and the sends.
    """
    answered, sent = sum(r.ok for r in runs), sum(r.sent for r in runs)
    wrong = {name: n for name, n in rows.items() if not answered <= n <= sent}
    if wrong or any(r.bad for r in runs):
        non_200 = sum(r.bad for r in runs)
        return f"{answered} answered 200 of {sent} sent, {non_200} non-200, rows {rows}"
    return None


def compare(url: str, args: argparse.Namespace, loader: Loader, workdir: Path) -> None:
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
    project_env = {"GROUPBOT_CONFIG": str(config), "GROUPBOT_LOG_LEVEL": args.log_level}
    durable_env = {**floor_env, "FLOOR_DATABASE_URL": url}
    with (
        gunicorn("bench.floor_app:create()", args.workers, floor_env, args.threads) as floor_port,
        gunicorn("bot.wsgi:app", args.workers, project_env, args.threads) as project_port,
        gunicorn("bot.wsgi:app", 1, project_env, args.threads) if single else nullcontext(0) as single_port,
        gunicorn("bench.floor_app:create_durable()", args.workers, durable_env, args.threads)
        if args.durable_floor
        else nullcontext(0) as durable_port,
        gunicorn("bench.floor_app:create_written()", args.workers, durable_env, args.threads)
        if args.written_floor
        else nullcontext(0) as written_port,
    ):
        for command in args.commands.split(","):
            written = written_port
            # Warm all: every worker imports, connects and fills its statement caches before the clock starts.
            warm = sealed_requests(command, 100, "warm")
            for port in (floor_port, project_port, single_port, durable_port, written):
                if port:
                    run_python(port, warm, args.connections)
            migrate_empty(engine)
            supply, own = Supply(command, "m"), Supply(command, "s")
            durable_supply, written_supply = Supply(command, "d"), Supply(command, WRITTEN_USER_PREFIX)
            # Floor and project take turns, so a neighbour's load that comes and goes on a shared
            # machine weighs on both sides of the ratio alike.
            floor_runs, project_runs, single_runs, durable_runs, written_runs = [], [], [], [], []
            for _ in range(args.rounds):
                floor_runs.append(loader.run(floor_port, supply, reuse=True))
                project_runs.append(loader.run(project_port, supply))
                if single:
                    single_runs.append(loader.run(single_port, own))
                if durable_port:
                    durable_runs.append(loader.run(durable_port, durable_supply))
                if written:
                    written_runs.append(loader.run(written, written_supply))
            time.sleep(0.5)  # a request still in flight when a timed run ended finishes its transaction
            floor, project = combined(floor_runs), combined(project_runs)
            rows = count_rows(engine, command)
            label = f"{engine.dialect.name} {command}"
            shown = [("floor", floor), ("project", project)]
            if single:
                shown.append(("project, one worker", combined(single_runs)))
            if durable_port:
                shown.append(("durable floor", combined(durable_runs)))
            if written:
                shown.append(("written floor", combined(written_runs)))
            for name, figures in shown:
                print(
                    f"{label} {name:<8} {figures.rate:7.0f} req/s  p50 {figures.p50_ms:6.1f} ms"
                    f"  p99 {figures.p99_ms:6.1f} ms  ({figures.ok} answered)"
                )
            print(f"{label} ratio    {project.rate / floor.rate:.2f}x")
            if durable_port:
                print(f"{label} durable floor / floor: {combined(durable_runs).rate / floor.rate:.2f}x")
            if written:
                print(f"{label} written floor / floor: {combined(written_runs).rate / floor.rate:.2f}x")
            if single:
                print(f"{label} {args.workers} workers / 1 worker: {project.rate / combined(single_runs).rate:.2f}x")
            problem = check_rows(rows, project_runs + single_runs)
            claims, written_rows = count_floor_rows(engine, command)
            if problem is None and (durable_runs or written_runs):
                problem = check_rows(claims, durable_runs + written_runs)
            if problem is None and written_runs:
                problem = check_rows(written_rows, written_runs)
            if floor.bad or problem:
                print(f"{label} NOT ALL DONE: floor non-200 {floor.bad}; {problem}")
            else:
                print(f"{label} rows: " + ", ".join(f"{n} {name}" for name, n in rows.items()))
            migrate_empty(engine)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per run (Python load generator)")
    parser.add_argument("--seconds", type=float, default=10, help="seconds per run (wrk)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="turns floor and project take on the requests")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker (1: sync workers)")
    parser.add_argument("--log-level", default="INFO", help="the project's log level (INFO logs every callback)")
    parser.add_argument("--loader", choices=["auto", "wrk", "python"], default="auto", help="auto: wrk when installed")
    parser.add_argument("--commands", default="帮助,签到")
    parser.add_argument(
        "--durable-floor", action="store_true", help="also serve the floor that commits one de-dup row per callback"
    )
    parser.add_argument(
        "--written-floor",
        action="store_true",
        help="also serve the floor that writes the command's rows on the raw driver (the most it can reach)",
    )
    parser.add_argument("--database-url", default=None, help="a PostgreSQL database of its own (it is emptied)")
    parser.add_argument("--no-sqlite", action="store_true", help="measure on the --database-url database only")
    args = parser.parse_args()
    kind = args.loader if args.loader != "auto" else ("wrk" if shutil.which("wrk") else "python")
    if kind == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed; use --loader python")
    workdir = Path(tempfile.mkdtemp(prefix="groupbot-floor-"))
    loader = Loader(kind, args.connections, workdir, args.seconds, args.requests)
    per_run = f"{args.seconds:g} s" if kind == "wrk" else f"{args.requests} distinct requests"
    server = f"gunicorn -w{args.workers}" + (f" --threads {args.threads}" if args.threads > 1 else " (sync workers)")
    print(f"{per_run} per run, {args.rounds} rounds, {args.connections} connections, {server}")
    print(f"load generator {kind}; load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    urls = ([] if args.no_sqlite else [f"sqlite:///{workdir}/bench.db"]) + (
        [args.database_url] if args.database_url else []
    )
    for url in urls:
        compare(url, args, loader, workdir)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
