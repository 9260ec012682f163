"""Fan-out benchmark: N WebSocket clients watch one run of 100 tasks through gunicorn.

Reports whether every client received every event of the run, the delivery latency from an
event's creation to its arrival at a client (p50/p99 over every client × event), and the memory of
the API processes. Run with ``python -m bench.fanout [--clients 200]``; ``make bench`` runs it
after the Harmonia/bare-Celery comparison.

The run starts with a 3 s gate task so that every client is connected before the 100 measured
tasks run; events a client received as history (before it connected) are not timed.
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
from datetime import datetime
from pathlib import Path

import httpx
import websockets

from app.cli import api_argv, free_port, start_embedded_redis, wait_for_port, worker_argv
from app.migrate import upgrade
from config.settings import Settings, normalise_database_url

TASKS = 100
GATE_SECONDS = 3.0


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


def _rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (the gunicorn master and its workers)."""
    total = 0
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        pids.extend(int(p) for p in task.read_text().split())
    for each in pids:
        with contextlib.suppress(FileNotFoundError):
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def _definition() -> dict:
    tasks = {"gate": {"action": "builtin.sleep", "input": {"seconds": GATE_SECONDS}}}
    for layer in range(10):
        for j in range(10):
            parents = [f"t{layer - 1}_{k}" for k in range(10)] if layer else ["gate"]
            tasks[f"t{layer}_{j}"] = {"action": "builtin.noop", "depends_on": parents}
    return {"name": f"fanout-{time.time_ns()}", "tasks": tasks}


async def _watch(url: str, connected: asyncio.Event, ready: list[float]) -> dict:
    """One client: connect, then keep each raw frame and its arrival time (parsed later)."""
    frames: list[tuple[str, float]] = []
    try:
        async with websockets.connect(url, max_queue=None, ping_interval=None) as ws:
            ready.append(time.time())
            await connected.wait()
            async for raw in ws:
                frames.append((raw, time.time()))
                if '"workflow_completed"' in raw or '"execution_failed"' in raw:
                    break
    except (OSError, websockets.WebSocketException) as exc:
        return {"error": str(exc), "events": []}
    got = []  # (event id, created, received)
    for raw, received in frames:
        event = json.loads(raw)
        created = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
        got.append((event["event_id"], created.timestamp(), received))
    return {"events": got}


async def _watch_all(url: str, clients: int) -> tuple[list[dict], float]:
    connected = asyncio.Event()
    ready: list[float] = []
    watchers = [asyncio.create_task(_watch(url, connected, ready)) for _ in range(clients)]
    deadline = time.monotonic() + 60
    while len(ready) < clients and time.monotonic() < deadline:
        if all(w.done() for w in watchers):
            break
        await asyncio.sleep(0.05)
    all_connected = time.time()
    connected.set()
    results = await asyncio.wait_for(asyncio.gather(*watchers), timeout=180)
    return list(results), all_connected


class _Sampler(threading.Thread):
    """Samples the API's resident memory while the clients are connected."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0.0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(0.2):
            self.peak = max(self.peak, _rss_mb(self.pid))

    def stop(self) -> float:
        self._stop_event.set()
        self.join(timeout=2)
        return self.peak


def run(clients: int, threads: int, worker_class: str = "gthread") -> dict:
    home = Path(tempfile.mkdtemp(prefix="harmonia-fanout-"))
    settings, embedded = _settings(home)
    upgrade(settings.database_url)
    env = _env(settings, threads, worker_class)
    log = open(home / "processes.log", "w")  # noqa: SIM115 - children write to it until the end
    worker = subprocess.Popen(
        worker_argv(
            settings,
            concurrency=int(os.environ.get("BENCH_WORKER_CONCURRENCY", os.cpu_count() or 2)),
        ),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    api = subprocess.Popen(api_argv(settings), env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"127.0.0.1:{settings.port}"
    try:
        if not wait_for_port("127.0.0.1", settings.port, 30):
            raise RuntimeError("the API did not start")
        http = httpx.Client(
            base_url=f"http://{base}",
            headers={"Authorization": f"Bearer {settings.admin_api_key}"},
            timeout=30,
        )
        while http.get("/health/ready").status_code != 200:
            time.sleep(0.5)
        idle_mb = _rss_mb(api.pid)
        workflow = http.post("/api/v1/workflows", json=_definition()).json()
        run_id = http.post(f"/api/v1/workflows/{workflow['id']}/execute", json={}).json()["run_id"]
        sampler = _Sampler(api.pid)
        sampler.start()
        results, all_connected = asyncio.run(
            _watch_all(
                f"ws://{base}/ws/executions/{run_id}?api_key={settings.admin_api_key}", clients
            )
        )
        peak_mb = sampler.stop()
        expected = [
            e["event_id"]
            for e in http.get(f"/api/v1/runs/{run_id}/events?page_size=100").json()["items"]
        ]
        page = 2
        while len(expected) % 100 == 0 and expected:
            more = http.get(f"/api/v1/runs/{run_id}/events?page_size=100&page={page}").json()
            if not more["items"]:
                break
            expected += [e["event_id"] for e in more["items"]]
            page += 1
        status = http.get(f"/api/v1/runs/{run_id}").json()["status"]
    finally:
        for process in (api, worker):
            process.terminate()
        for process in (api, worker):
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=20)
        log.close()
        if isinstance(embedded, subprocess.Popen):
            embedded.terminate()
    # Live events arrive in commit order, which can differ from id order when parallel tasks
    # commit at once: "every event" means each id exactly once.
    complete = sum(
        1 for r in results if r and sorted(e[0] for e in r["events"]) == sorted(expected)
    )
    latencies = sorted(
        (received - created) * 1000
        for r in results
        if r
        for (_, created, received) in r["events"]
        if created > all_connected
    )
    return {
        "clients": clients,
        "gunicorn": (
            f"gthread, 2 workers × {threads} threads"
            if worker_class == "gthread"
            else f"{worker_class}, 2 workers"
        ),
        "failed_clients": sum(1 for r in results if r.get("error")),
        "run_status": status,
        "events_per_run": len(expected),
        "clients_with_every_event": complete,
        "timed_deliveries": len(latencies),
        "p50_ms": statistics.median(latencies) if latencies else None,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] if latencies else None,
        "api_rss_idle_mb": round(idle_mb, 1),
        "api_rss_peak_mb": round(peak_mb, 1),
        "database": settings.database_url.split(":", 1)[0],
    }


def report(result: dict) -> str:
    ok = (
        result["clients_with_every_event"] == result["clients"]
        and result["p99_ms"] is not None
        and result["p99_ms"] < 250
    )
    return "\n".join(
        [
            f"WebSocket fan-out: {result['clients']} clients watching one run of {TASKS} tasks "
            f"({result['gunicorn']}, {result['database']})",
            f"  every event to every client: {result['clients_with_every_event']}/"
            f"{result['clients']} clients ({result['events_per_run']} events each)",
            f"  delivery latency (creation → client): p50 {result['p50_ms']:.1f} ms, "
            f"p99 {result['p99_ms']:.1f} ms over {result['timed_deliveries']} deliveries",
            f"  API memory (master + workers RSS): {result['api_rss_idle_mb']} MB idle, "
            f"{result['api_rss_peak_mb']} MB with the clients connected",
            f"  target (all delivered, p99 < 250 ms): {'PASS' if ok else 'MISS'}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument(
        "--threads",
        type=int,
        default=256,
        help="gunicorn threads per API process (each open socket holds one)",
    )
    parser.add_argument("--worker-class", default="gthread", choices=["gthread", "gevent"])
    args = parser.parse_args(argv)
    result = run(args.clients, args.threads, args.worker_class)
    print(report(result))
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "fanout.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
