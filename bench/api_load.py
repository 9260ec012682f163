"""API latency under N concurrent clients: locust, headless, against the API under gunicorn.
``python -m bench`` runs it after the timings (``--api-clients``; ``python -m bench.api_load``
alone).

Method. The API runs as in production: gunicorn with ``config/gunicorn.conf.py`` (gthread, 2
processes × 256 threads), started as ``bench/fanout.py`` and ``bench/ui.py`` start it, on the
bench's database and Redis, with an admin key. Its per-identity rate limit is raised out of reach
(every request is still counted in Redis, as in production) so that no request is refused, and
it records no message sizes (production does not). For each size, a 2-task chain and the
1,000-task layered DAG of ``bench/shapes.py``, two scenarios of ``--api-seconds`` each, each on
a fresh API: locust (``bench/locustfile.py``) reads ``GET /api/v1/runs/{id}`` of one run of the
workflow, then posts ``POST /api/v1/workflows/{id}/execute``. ``--api-clients`` users are all
spawned in the first second and the statistics reset once they are; each user sends its next
request ``--api-wait`` seconds on average (1 by default: 50 users send about 50 requests per
second, each user as a client that reads and acts) after the previous one's answer. With no wait
the API always has N requests in flight and the latency is mostly queueing: on average
N / (requests per second), the saturated server's throughput rather than a request's latency.
Locust shares the 2 cores with the API and Postgres; when it
reports its own CPU above 90%, the report says so. Once locust has stopped, the API must answer
one more request of the scenario within 30 s, or the report says it stopped answering (the
requests locust left in flight never finished: a stuck API, not a slow one).

No Celery worker runs here, so ``POST …/execute`` is measured up to the API's answer: the run and
its task rows written, the first canvas segment queued in Redis. That is the path the API owns;
a worker could not run the hundreds of 1,000-task runs posted each second, and would take the
CPU the API is measured on. The run read by ``GET`` is one of these runs (PENDING): the run's
row is what that path reads, whatever the run's state. Afterwards the queued messages are purged
and the runs deleted with their workflows.
"""

from __future__ import annotations

import csv
import os
import secrets
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from celery import Celery

from app.cli import free_port
from bench.fanout import _env, _start_api
from bench.services import BENCH_PREFIX, ROOT, Services, delete_bench_rows, vacuum
from bench.shapes import Deps, chain_of, harmonia_definition, layered

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
SIZES: dict[int, Deps] = {2: chain_of(2), 1000: layered(10, 100)}
SCENARIOS = ("get_run", "execute")
LABELS = {"execute": "POST /workflows/{id}/execute", "get_run": "GET /runs/{id}"}
TARGET_P99_MS = {"execute": 100.0, "get_run": 30.0}
API_THREADS = 256  # config/gunicorn.conf.py's default
NO_LIMIT = "1000000 per second"
# After locust stops, one more request must be answered within this: else the API is stuck.
ANSWER_TIMEOUT = 30.0
STOP_TIMEOUT = 45.0  # gunicorn's graceful_timeout (30 s), then it kills its workers
CPU_WARNING = "CPU usage above"  # locust's warning when it is short of CPU itself


def run(
    services: Services,
    client: Celery,
    clients: int,
    seconds: float,
    wait: float,
    results: Path,
    log,
) -> dict[str, Any]:
    """Every (scenario, size) once, each on a fresh API (one left stuck cannot slow the next);
    the locust figures by scenario, then size."""
    key = "hmn_bench-" + secrets.token_urlsafe(16)
    settings = services.settings.with_(admin_api_key=key)
    env = {
        **_env(settings, API_THREADS, "gthread"),
        "HARMONIA_RATE_LIMIT": NO_LIMIT,
        "HARMONIA_RECORD_MESSAGE_SIZES": "false",
    }
    directory = results / "locust"
    directory.mkdir(parents=True, exist_ok=True)
    measured: dict[str, dict[str, Any]] = {scenario: {} for scenario in SCENARIOS}
    with open(directory / "api.log", "w") as api_log:
        try:
            for size, deps in SIZES.items():
                targets: dict[str, tuple[str, str]] = {}
                for scenario in SCENARIOS:
                    api_settings = settings.with_(port=free_port())
                    api, http = _start_api(api_settings, env, api_log)
                    try:
                        targets = targets or _targets(http, size, deps)
                        path, target = targets[scenario]
                        _warm_up(http, clients, "get_run", targets["get_run"][0])
                        _warm_up(http, clients, scenario, path)
                        figures = _locust(
                            f"http://127.0.0.1:{api_settings.port}",
                            key,
                            scenario,
                            target,
                            clients,
                            seconds,
                            wait,
                            directory / f"{scenario}_{size}",
                        )
                        figures["answers_after"] = _answers(http, scenario, path)
                    finally:
                        http.close()
                        _stop_api(api)
                        client.control.purge()
                    measured[scenario][str(size)] = figures
                    log(
                        f"api x{clients} {LABELS[scenario]:<29} {size:>5} tasks: "
                        f"p50 {_ms(figures['p50_ms'])} ms, p99 {_ms(figures['p99_ms'])} ms, "
                        f"{figures['requests_per_s']:.1f} req/s, {figures['failures']} failed"
                        + ("" if figures["answers_after"] else ", then the API stopped answering")
                    )
        finally:
            client.control.purge()
            delete_bench_rows(settings.resolved_database_url)
            vacuum(settings.resolved_database_url)
    return {
        "clients": clients,
        "seconds": seconds,
        "wait_s": wait,
        "gunicorn": f"gthread, 2 workers x {API_THREADS} threads",
        "targets_p99_ms": TARGET_P99_MS,
        "scenarios": measured,
    }


def _targets(http, size: int, deps: Deps) -> dict[str, tuple[str, str]]:
    """A workflow of ``deps`` and one run of it: each scenario's path and locust target."""
    name = f"{BENCH_PREFIX}api-{size}-{uuid.uuid4().hex[:8]}"
    created = http.post("/api/v1/workflows", json=harmonia_definition(name, deps))
    created.raise_for_status()
    workflow_id = created.json()["id"]
    execute = f"/api/v1/workflows/{workflow_id}/execute"
    run_id = _request(http, "execute", execute).json()["run_id"]
    return {"execute": (execute, workflow_id), "get_run": (f"/api/v1/runs/{run_id}", run_id)}


def _request(http, scenario: str, path: str, timeout: float = ANSWER_TIMEOUT):
    if scenario == "execute":
        response = http.post(path, json={"input_data": {}}, timeout=timeout)
    else:
        response = http.get(path, timeout=timeout)
    return response.raise_for_status()


def _warm_up(http, clients: int, scenario: str, path: str) -> None:
    """``clients`` requests at once, twice: gunicorn's threads, the database connections that N
    requests in flight need, and each gunicorn process's caches (the workflow's DAG) are ready
    before the figures are taken, not while."""
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda _: _request(http, scenario, path), range(2 * clients)))


def _answers(http, scenario: str, path: str) -> bool:
    """Whether the API still answers the scenario's request once locust has stopped (the
    requests left in flight are still being served, so it may take a while)."""
    try:
        _request(http, scenario, path)
    except httpx.TimeoutException:
        return False
    return True


def _stop_api(api: subprocess.Popen) -> None:
    api.terminate()
    try:
        api.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        api.kill()
        api.wait(timeout=10)


def locust_argv(
    host: str, scenario: str, target: str, clients: int, seconds: float, wait: float, prefix: Path
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "locust",
        "--locustfile",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        host,
        "--users",
        str(clients),
        "--spawn-rate",
        str(clients),  # all of them within the first second
        "--run-time",
        f"{seconds:g}s",
        "--reset-stats",  # the figures start once every user is running
        "--csv",
        str(prefix),
        "--only-summary",
        "--exit-code-on-error",
        "0",  # failures are counted in the figures
        "--loglevel",
        "WARNING",
        "--bench-scenario",
        scenario,
        "--bench-target",
        target,
        "--bench-wait",
        f"{wait:g}",
    ]


def _locust(
    host: str,
    key: str,
    scenario: str,
    target: str,
    clients: int,
    seconds: float,
    wait: float,
    prefix: Path,
) -> dict[str, Any]:
    argv = locust_argv(host, scenario, target, clients, seconds, wait, prefix)
    log_path = prefix.with_suffix(".log")
    with open(log_path, "w") as out:
        done = subprocess.run(
            argv,
            env={**os.environ, "BENCH_API_KEY": key},
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=seconds + 120,
        )
    output = log_path.read_text()
    if done.returncode != 0:
        raise RuntimeError(f"locust exited with {done.returncode}:\n{output[-3000:]}")
    figures = read_stats(Path(f"{prefix}_stats.csv"))
    figures["locust_cpu_bound"] = CPU_WARNING in output
    return figures


def read_stats(path: Path) -> dict[str, Any]:
    """The figures of locust's ``…_stats.csv``: its ``Aggregated`` row (one request name per
    scenario, so the same as that name's row). Times in ms, as locust rounds them."""
    with open(path, newline="") as stats:
        rows = {row["Name"]: row for row in csv.DictReader(stats)}
    row = rows["Aggregated"]
    return {
        "requests": int(row["Request Count"]),
        "failures": int(row["Failure Count"]),
        "requests_per_s": float(row["Requests/s"]),
        "p50_ms": _number(row["50%"]),
        "p99_ms": _number(row["99%"]),
        "max_ms": _number(row["Max Response Time"]),
        "mean_ms": _number(row["Average Response Time"]),
    }


def _number(value: str) -> float | None:
    return None if value in ("", "N/A") else float(value)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def passes(scenario: str, figures: dict[str, Any]) -> bool:
    p99 = figures["p99_ms"]
    answered = figures["failures"] == 0 and figures.get("answers_after", True)
    return answered and p99 is not None and p99 < TARGET_P99_MS[scenario]


def report(result: dict[str, Any]) -> str:
    wait = (
        f", {result['wait_s']:g} s on average between a client's requests"
        if result["wait_s"]
        else ""
    )
    lines = [
        f"API under {result['clients']} concurrent clients (locust, headless, "
        f"{result['seconds']:g} s per scenario{wait}; gunicorn {result['gunicorn']}; no worker)",
        f"  {'request':<30} {'tasks':>6} {'p50 ms':>7} {'p99 ms':>7} {'req/s':>7} {'failed':>7}",
    ]
    busy, stuck = [], []
    for scenario, by_size in result["scenarios"].items():
        target = TARGET_P99_MS[scenario]
        for size, figures in by_size.items():
            verdict = "PASS" if passes(scenario, figures) else "MISS"
            lines.append(
                f"  {LABELS[scenario]:<30} {int(size):>6,} {_ms(figures['p50_ms']):>7} "
                f"{_ms(figures['p99_ms']):>7} {figures['requests_per_s']:>7.1f} "
                f"{figures['failures']:>7}  (p99 target < {target:g} ms: {verdict})"
            )
            if figures.get("locust_cpu_bound"):
                busy.append(f"{LABELS[scenario]} {size} tasks")
            if not figures.get("answers_after", True):
                stuck.append(f"{LABELS[scenario]} {size} tasks")
    if busy:
        lines.append(f"  locust reported its own CPU above 90% during: {', '.join(busy)}")
    if stuck:
        lines.append(
            f"  the API stopped answering (no answer {ANSWER_TIMEOUT:g} s after locust stopped) "
            f"after: {', '.join(stuck)}"
        )
    return "\n".join(lines)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.api_load``: this part alone, on the services ``python -m bench`` picks."""
    import argparse

    from bench.services import pick_services
    from worker.celery_app import make_celery

    parser = argparse.ArgumentParser(prog="python -m bench.api_load", description=__doc__)
    parser.add_argument("--clients", type=int, default=50, help="locust users (50)")
    parser.add_argument("--seconds", type=float, default=15.0, help="per scenario (15)")
    parser.add_argument("--wait", type=float, default=1.0, help="between a user's requests (1)")
    args = parser.parse_args(argv)
    services = pick_services(1)
    client = make_celery(services.settings)
    try:
        results = ROOT / "bench" / "results"
        print(report(run(services, client, args.clients, args.seconds, args.wait, results, _log)))
    finally:
        client.close()
        services.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
