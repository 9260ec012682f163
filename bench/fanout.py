"""Fan-out benchmark: N WebSocket clients watch one run of 100 tasks through gunicorn, over the
REST sockets and over GraphQL subscriptions, one protocol after the other.

For each protocol (``--protocol rest|graphql|both``; both by default) it reports whether every
client received every update of the run, the delivery latency, and what the API processes (the
gunicorn master and its workers) spend holding the clients: their threads while the N clients are
connected, their CPU seconds (``/proc/<pid>/stat`` utime + stime) during a 5 s idle period with
every client connected and during the run, and their memory. Run with ``python -m bench.fanout
[--clients 200] [--protocol both]``; ``make bench`` runs it after the Harmonia/bare-Celery
comparison.

- REST: ``/ws/executions/{run}``; every event of the run to every client, each id exactly once.
  Latency: from an event's creation to its arrival.
- GraphQL: ``/graphql`` (``graphql-transport-ws``), one ``taskExecutionUpdated`` subscription per
  client; every client saw each of the 100 tasks COMPLETED, then ``complete``. Latency: from a
  task's ``endTime`` to the arrival of its first COMPLETED update.
  Both are also timed over task completions alone (REST's ``task_completed`` events), the same
  thing measured the same way: the ratio line compares those.

Method. The server (Postgres or SQLite, Redis) is shared; each protocol gets a fresh run and a
fresh API: gthread never stops a thread it has started, so a second protocol on the same API
would inherit the first one's threads. The run is created with no Celery worker running, so it
waits in its queue: the clients connect, each sends a ping after subscribing and counts as
connected at the pong (the server has its subscription then), then the API's threads are counted
and its CPU measured over 5 s of idling with nothing published. Then the worker starts and runs
the 100 tasks (10 layers of 10, each task depending on the whole layer before); the run's CPU is
counted from the run's first event to the last client's last update (sampled every 0.1 s).
Events a client received as history (before every client was connected) are not timed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx
import websockets

from app.cli import api_argv, free_port, start_embedded_redis, wait_for_port, worker_argv
from app.migrate import upgrade
from config.settings import Settings, normalise_database_url

TASKS = 100
PROTOCOLS = ("rest", "graphql")
LABELS = {"rest": "REST", "graphql": "GraphQL"}
SETTLE_SECONDS = 1.0  # after the last client connected, before the idle period
IDLE_SECONDS = 5.0
SAMPLE_SECONDS = 0.1
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
GRAPHQL_PROTOCOL = "graphql-transport-ws"
SUBSCRIPTION = (
    "subscription($id: ID!) { taskExecutionUpdated(workflowExecutionId: $id) "
    "{ id taskDefinitionId status endTime } }"
)


def _settings(home: Path) -> tuple[Settings, object]:
    env = os.environ
    db = env.get("HARMONIA_DATABASE_URL") or env.get("HARMONIA_TEST_DATABASE_URL") or ""
    redis_url = env.get("HARMONIA_REDIS_URL") or env.get("HARMONIA_TEST_REDIS_URL") or ""
    embedded = None
    if not redis_url:
        embedded, redis_url = start_embedded_redis(home)
    database = normalise_database_url(db) if db else f"sqlite:///{home}/harmonia.db"
    return Settings(
        home=home,
        database_url=database,
        redis_url=redis_url,
        port=free_port(),
        log_level="WARNING",
        admin_api_key="hmn_bench-" + secrets.token_urlsafe(16),
    ), embedded


def _env(settings: Settings, threads: int, worker_class: str) -> dict[str, str]:
    return {
        **os.environ,
        "HARMONIA_API_WORKER_CLASS": worker_class,
        "HARMONIA_HOME": str(settings.home),
        "HARMONIA_DATABASE_URL": settings.database_url,
        "HARMONIA_REDIS_URL": settings.redis_url,
        "HARMONIA_LOG_LEVEL": "WARNING",
        "HARMONIA_API_THREADS": str(threads),
        "HARMONIA_ADMIN_API_KEY": settings.admin_api_key,
    }


# -- the API processes, from /proc ---------------------------------------------------------------


def _pids(pid: int) -> list[int]:
    """The gunicorn master and its workers."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(FileNotFoundError):
            pids.extend(int(p) for p in task.read_text().split())
    return pids


def _rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (the gunicorn master and its workers)."""
    total = 0
    for each in _pids(pid):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def _threads(pid: int) -> int:
    """Threads of the master and its workers (``/proc/<pid>/task`` entries)."""
    total = 0
    for each in _pids(pid):
        with contextlib.suppress(FileNotFoundError):
            total += sum(1 for _ in Path(f"/proc/{each}/task").iterdir())
    return total


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of the master and its workers so far (every thread, living or not)."""
    ticks = 0
    for each in _pids(pid):
        with contextlib.suppress(FileNotFoundError):
            # The name (field 2) may hold spaces: count the fields after its closing ")".
            fields = Path(f"/proc/{each}/stat").read_text().rpartition(")")[2].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / CLOCK_TICKS


class _Sampler(threading.Thread):
    """Samples the API's CPU seconds, threads and resident memory while the clients are
    connected."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.samples: list[tuple[float, float]] = []  # (time, CPU seconds so far)
        self.peak_mb = 0.0
        self.peak_threads = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(SAMPLE_SECONDS):
            self.samples.append((time.time(), _cpu_seconds(self.pid)))
            self.peak_mb = max(self.peak_mb, _rss_mb(self.pid))
            self.peak_threads = max(self.peak_threads, _threads(self.pid))

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=2)

    def cpu_between(self, start: float, end: float) -> float | None:
        """CPU seconds from the last sample at or before ``start`` to the first at or after
        ``end`` (a little more than the period, never less)."""
        before = [cpu for at, cpu in self.samples if at <= start]
        after = [cpu for at, cpu in self.samples if at >= end]
        return after[0] - before[-1] if before and after else None


# -- the run -------------------------------------------------------------------------------------


def _definition() -> dict:
    tasks = {}
    for layer in range(10):
        for j in range(10):
            parents = [f"t{layer - 1}_{k}" for k in range(10)] if layer else []
            tasks[f"t{layer}_{j}"] = {"action": "builtin.noop", "depends_on": parents}
    return {"name": f"fanout-{time.time_ns()}", "tasks": tasks}


def _events(http: httpx.Client, run_id: str) -> list[dict]:
    """Every event of the run, as the REST API lists them."""
    events, page = [], 1
    while True:
        items = http.get(f"/api/v1/runs/{run_id}/events?page_size=100&page={page}").json()
        events += items["items"]
        if len(items["items"]) < 100:
            return events
        page += 1


def _created(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


# -- the clients ---------------------------------------------------------------------------------


async def _watch_rest(base: str, key: str, run_id: str, ready: list[float]) -> dict:
    """One REST client: connect, ping, then keep each raw frame and its arrival time (parsed
    later: parsing as they come would take CPU from the server being measured)."""
    frames: list[tuple[str, float]] = []
    url = f"ws://{base}/ws/executions/{run_id}?api_key={key}"
    try:
        async with websockets.connect(url, max_queue=None, ping_interval=None) as ws:
            await ws.send(json.dumps({"type": "ping"}))
            async for raw in ws:
                if '"pong"' in raw and '"event_id"' not in raw:
                    ready.append(time.time())
                    continue
                frames.append((raw, time.time()))
                if '"workflow_completed"' in raw or '"execution_failed"' in raw:
                    break
    except (OSError, websockets.WebSocketException) as exc:
        return {"error": str(exc), "frames": frames}
    return {"frames": frames}


async def _watch_graphql(base: str, key: str, run_id: str, ready: list[float]) -> dict:
    """One GraphQL client: init, subscribe, ping; then keep each raw frame and its arrival time
    until ``complete`` (the pong says the server has handled the subscribe before it)."""
    frames: list[tuple[str, float]] = []
    subscribe = {
        "id": "1",
        "type": "subscribe",
        "payload": {"query": SUBSCRIPTION, "variables": {"id": run_id}},
    }
    try:
        async with websockets.connect(
            f"ws://{base}/graphql",
            subprotocols=[GRAPHQL_PROTOCOL],
            max_queue=None,
            ping_interval=None,
        ) as ws:
            init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}}
            await ws.send(json.dumps(init))
            ack = json.loads(await ws.recv())
            if ack.get("type") != "connection_ack":
                return {"error": f"no connection_ack: {ack}", "frames": frames}
            await ws.send(json.dumps(subscribe))
            await ws.send(json.dumps({"type": "ping"}))
            async for raw in ws:
                if '"pong"' in raw and '"payload"' not in raw:
                    ready.append(time.time())
                    continue
                frames.append((raw, time.time()))
                if '"complete"' in raw or '"error"' in raw:
                    break
    except (OSError, websockets.WebSocketException) as exc:
        return {"error": str(exc), "frames": frames}
    return {"frames": frames}


WATCHERS = {"rest": _watch_rest, "graphql": _watch_graphql}


async def _watch_all(
    protocol: str,
    base: str,
    key: str,
    run_id: str,
    clients: int,
    api_pid: int,
    start_worker: Callable[[], None],
) -> dict:
    """Connect every client, measure the idle API, start the worker, wait for the run's end."""
    ready: list[float] = []
    watch = WATCHERS[protocol]
    watchers = [asyncio.create_task(watch(base, key, run_id, ready)) for _ in range(clients)]
    deadline = time.monotonic() + 60
    while len(ready) < clients and time.monotonic() < deadline:
        if all(w.done() for w in watchers):
            break
        await asyncio.sleep(0.05)
    all_connected = time.time()
    connected = len(ready)
    await asyncio.sleep(SETTLE_SECONDS)
    threads = _threads(api_pid)
    idle_cpu = _cpu_seconds(api_pid)
    await asyncio.sleep(IDLE_SECONDS)
    idle_cpu = _cpu_seconds(api_pid) - idle_cpu
    idle_end = time.time()
    start_worker()
    results = await asyncio.wait_for(asyncio.gather(*watchers), timeout=180)
    return {
        "results": list(results),
        "all_connected": all_connected,
        "connected": connected,
        "threads": threads,
        "idle_cpu": idle_cpu,
        "idle_end": idle_end,
    }


# -- what each client got ------------------------------------------------------------------------


def _rest_outcome(result: dict, expected: list[int], since: float) -> dict:
    """Every event exactly once? Latencies (ms) of the events created after ``since``: all of
    them, and the task completions alone."""
    got = []  # (event id, type, created, received)
    for raw, received in result["frames"]:
        event = json.loads(raw)
        if "event_id" in event:
            got.append((event["event_id"], event["type"], _created(event["timestamp"]), received))
    timed = [
        (kind, (received - created) * 1000) for _, kind, created, received in got if created > since
    ]
    return {
        # Live events arrive in commit order, which can differ from id order when parallel
        # tasks commit at once: "every event" means each id exactly once.
        "complete": sorted(e[0] for e in got) == sorted(expected),
        "latencies": [ms for _, ms in timed],
        "completions": [ms for kind, ms in timed if kind == "task_completed"],
        "last": max((e[3] for e in got), default=None),
    }


def _graphql_outcome(result: dict, tasks: set[str], since: float) -> dict:
    """Each task COMPLETED, then ``complete``? Latencies (ms) from each task's endTime to its
    first COMPLETED update, for the tasks that ended after ``since``."""
    completed: dict[str, float] = {}
    finished = False
    latencies = []
    errors = []
    for raw, received in result["frames"]:
        message = json.loads(raw)
        if message.get("type") == "complete":
            finished = True
            continue
        if message.get("type") == "error":  # the operation ended with GraphQL errors
            errors += [e.get("message", str(e)) for e in message.get("payload") or []]
            continue
        update = ((message.get("payload") or {}).get("data") or {}).get("taskExecutionUpdated")
        if message.get("type") != "next" or not update:
            continue
        task = update["taskDefinitionId"]
        if update["status"] == "COMPLETED" and task not in completed:
            completed[task] = received
            ended = _created(update["endTime"])
            if ended > since:
                latencies.append((received - ended) * 1000)
    return {
        "complete": finished and tasks <= set(completed),
        "errors": errors,
        "latencies": latencies,
        "completions": latencies,
        "last": max((received for _, received in result["frames"]), default=None),
    }


def _percentiles(latencies: list[float]) -> tuple[float | None, float | None]:
    ordered = sorted(latencies)
    if not ordered:
        return None, None
    return statistics.median(ordered), ordered[max(int(len(ordered) * 0.99) - 1, 0)]


# -- one protocol --------------------------------------------------------------------------------


def _start_api(settings: Settings, env: dict, log) -> tuple[subprocess.Popen, httpx.Client]:
    api = subprocess.Popen(api_argv(settings), env=env, stdout=log, stderr=subprocess.STDOUT)
    if not wait_for_port("127.0.0.1", settings.port, 30):
        raise RuntimeError("the API did not start")
    http = httpx.Client(
        base_url=f"http://127.0.0.1:{settings.port}",
        headers={"Authorization": f"Bearer {settings.admin_api_key}"},
        timeout=30,
    )
    while http.get("/api/v1/workflows?page_size=1").status_code != 200:
        time.sleep(0.5)
    time.sleep(1.0)  # let the workers finish starting before the baseline
    return api, http


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)


def measure(protocol: str, settings: Settings, env: dict, clients: int, log) -> dict:
    """A fresh API and a fresh run, watched by ``clients`` clients of ``protocol``."""
    settings = settings.with_(port=free_port())
    processes: list[subprocess.Popen] = []
    concurrency = int(os.environ.get("BENCH_WORKER_CONCURRENCY", os.cpu_count() or 2))

    def start_worker() -> None:
        argv = worker_argv(settings, concurrency=concurrency)
        processes.append(subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT))

    try:
        api, http = _start_api(settings, env, log)
        processes.append(api)
        idle_mb, baseline_threads = _rss_mb(api.pid), _threads(api.pid)
        workflow = http.post("/api/v1/workflows", json=_definition()).json()
        run_id = http.post(f"/api/v1/workflows/{workflow['id']}/execute", json={}).json()["run_id"]
        sampler = _Sampler(api.pid)
        sampler.start()
        try:
            watched = asyncio.run(
                _watch_all(
                    protocol,
                    f"127.0.0.1:{settings.port}",
                    settings.admin_api_key,
                    run_id,
                    clients,
                    api.pid,
                    start_worker,
                )
            )
        finally:
            time.sleep(2 * SAMPLE_SECONDS)  # a sample after the last arrival
            sampler.stop()
        events = _events(http, run_id)
        status = http.get(f"/api/v1/runs/{run_id}").json()["status"]
    finally:
        _stop(processes)
    since = watched["all_connected"]
    if protocol == "rest":
        expected = [e["event_id"] for e in events]
        outcomes = [_rest_outcome(r, expected, since) for r in watched["results"]]
    else:
        expected_tasks = set(_definition()["tasks"])
        outcomes = [_graphql_outcome(r, expected_tasks, since) for r in watched["results"]]
    latencies = [ms for o in outcomes for ms in o["latencies"]]
    completions = [ms for o in outcomes for ms in o["completions"]]
    run_events = [_created(e["timestamp"]) for e in events]
    run_start = min((at for at in run_events if at > watched["idle_end"]), default=None)
    run_end = max((o["last"] for o in outcomes if o["last"]), default=None)
    run_cpu = sampler.cpu_between(run_start, run_end) if run_start and run_end else None
    p50, p99 = _percentiles(latencies)
    completion_p50, completion_p99 = _percentiles(completions)
    return {
        "protocol": protocol,
        "clients": clients,
        "connected": watched["connected"],
        "failed_clients": sum(1 for r in watched["results"] if r.get("error")),
        "errors": sorted({r["error"] for r in watched["results"] if r.get("error")})[:3],
        # Operations the server ended with an ``error`` message (GraphQL), and why.
        "ended_with_error": sum(1 for o in outcomes if o.get("errors")),
        "server_errors": sorted({e for o in outcomes for e in o.get("errors", ())})[:3],
        "run_status": status,
        "events_per_run": len(events),
        "clients_with_every_update": sum(1 for o in outcomes if o["complete"]),
        "timed_deliveries": len(latencies),
        "p50_ms": p50,
        "p99_ms": p99,
        "completion_p50_ms": completion_p50,
        "completion_p99_ms": completion_p99,
        "api_threads_baseline": baseline_threads,
        "api_threads_connected": watched["threads"],
        "api_threads_peak": sampler.peak_threads,
        "api_cpu_idle_s": round(watched["idle_cpu"], 2),
        "api_cpu_run_s": None if run_cpu is None else round(run_cpu, 2),
        "run_seconds": None if run_cpu is None else round(run_end - run_start, 2),
        "api_rss_idle_mb": round(idle_mb, 1),
        "api_rss_peak_mb": round(sampler.peak_mb, 1),
    }


def run(
    clients: int,
    threads: int,
    worker_class: str = "gthread",
    protocols: tuple[str, ...] = PROTOCOLS,
) -> dict:
    home = Path(tempfile.mkdtemp(prefix="harmonia-fanout-"))
    settings, embedded = _settings(home)
    upgrade(settings.database_url)
    env = _env(settings, threads, worker_class)
    log = open(home / "processes.log", "w")  # noqa: SIM115 - children write to it until the end
    try:
        measured = {p: measure(p, settings, env, clients, log) for p in protocols}
    finally:
        log.close()
        if isinstance(embedded, subprocess.Popen):
            embedded.terminate()
    return {
        "clients": clients,
        "tasks": TASKS,
        "gunicorn": (
            f"gthread, 2 workers × {threads} threads"
            if worker_class == "gthread"
            else f"{worker_class}, 2 workers"
        ),
        "database": settings.database_url.split(":", 1)[0],
        "idle_seconds": IDLE_SECONDS,
        "protocols": measured,
    }


# -- the report ----------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _held(result: dict) -> int:
    """Threads the connected clients added to the API."""
    return result["api_threads_connected"] - result["api_threads_baseline"]


def _ok(result: dict) -> bool:
    return (
        result["clients_with_every_update"] == result["clients"]
        and result["p99_ms"] is not None
        and result["p99_ms"] < 250
    )


ROWS: list[tuple[str, Callable[[dict], str]]] = [
    ("clients connected", lambda r: f"{r['connected']}/{r['clients']}"),
    ("all updates received", lambda r: f"{r['clients_with_every_update']}/{r['clients']}"),
    ("latency p50/p99 ms", lambda r: f"{_ms(r['p50_ms'])} / {_ms(r['p99_ms'])}"),
    (
        "  task completions only",
        lambda r: f"{_ms(r['completion_p50_ms'])} / {_ms(r['completion_p99_ms'])}",
    ),
    (
        "API threads: before → connected",
        lambda r: (
            f"{r['api_threads_baseline']} → {r['api_threads_connected']} "
            f"(+{_held(r)}, {_held(r) / r['clients']:.2f}/client)"
        ),
    ),
    ("API CPU s, idle", lambda r: f"{r['api_cpu_idle_s']:.2f}"),
    (
        "API CPU s, run",
        lambda r: "-" if r["api_cpu_run_s"] is None else f"{r['api_cpu_run_s']:.2f}",
    ),
    ("run duration s", lambda r: "-" if r["run_seconds"] is None else f"{r['run_seconds']:.2f}"),
    ("API RSS MB: idle → peak", lambda r: f"{r['api_rss_idle_mb']} → {r['api_rss_peak_mb']}"),
    ("target (all, p99 < 250 ms)", lambda r: "PASS" if _ok(r) else "MISS"),
]


def _ratio(graphql: float | None, rest: float | None) -> str:
    return "-" if not graphql or not rest else f"{graphql / rest:.2f}"


def report(result: dict) -> str:
    measured = result["protocols"]
    columns = list(measured)
    lines = [
        f"WebSocket fan-out: {result['clients']} clients watching one run of {result['tasks']} "
        f"tasks, per protocol ({result['gunicorn']}, {result['database']}; a fresh API and run "
        f"each; idle = {result['idle_seconds']:g} s with every client connected)",
        f"  {'':32}" + "".join(f"{LABELS[p]:>30}" for p in columns),
    ]
    for label, cell in ROWS:
        lines.append(f"  {label:32}" + "".join(f"{cell(measured[p]):>30}" for p in columns))
    for protocol in columns:
        if measured[protocol]["errors"]:
            lines.append(f"  {LABELS[protocol]} client errors: {measured[protocol]['errors']}")
        if measured[protocol]["ended_with_error"]:
            lines.append(
                f"  {LABELS[protocol]}: {measured[protocol]['ended_with_error']} subscriptions "
                f"ended with an error: {measured[protocol]['server_errors']}"
            )
    lines.append(
        "  REST: every event of the run, latency from its creation; GraphQL: each task COMPLETED"
        " then complete, latency from its endTime"
    )
    if set(PROTOCOLS) <= set(columns):
        rest, graphql = measured["rest"], measured["graphql"]
        lines.append(
            f"GraphQL/REST: threads {_ratio(_held(graphql), _held(rest))}, "
            f"idle CPU {_ratio(graphql['api_cpu_idle_s'], rest['api_cpu_idle_s'])}, "
            f"run CPU {_ratio(graphql['api_cpu_run_s'], rest['api_cpu_run_s'])}, "
            f"p99 latency {_ratio(graphql['completion_p99_ms'], rest['completion_p99_ms'])} "
            "(threads the clients added; latency of task completions)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument(
        "--threads",
        type=int,
        default=256,
        help="gunicorn threads per API process (each open socket holds one of them, and a "
        "simple-websocket reader thread besides)",
    )
    parser.add_argument("--worker-class", default="gthread", choices=["gthread", "gevent"])
    parser.add_argument(
        "--protocol",
        default="both",
        choices=["rest", "graphql", "both"],
        help="REST sockets, GraphQL subscriptions, or both one after the other (both)",
    )
    args = parser.parse_args(argv)
    protocols = PROTOCOLS if args.protocol == "both" else (args.protocol,)
    result = run(args.clients, args.threads, args.worker_class, protocols)
    print(report(result))
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "fanout.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
