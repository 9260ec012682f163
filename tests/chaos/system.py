"""A live Harmonia made of real processes, and the handles a scenario needs to hurt it.

One ``System`` per scenario:

- a private ``redis-server`` on its own loopback port (a scenario may kill and restart it without
  touching the shared Redis), which the workers and beat use directly;
- the real Postgres, in a dedicated database (``harmonia_chaos``), reached by every Harmonia
  process through ``pg_proxy`` so a scenario can cut the database off;
- the API under gunicorn (2 gthread processes), whose Redis traffic goes through its own
  ``api_redis_proxy`` so a scenario can hang the API's Redis alone;
- one Celery worker (2 pool processes) and Celery beat (the recovery sweep), each a process group
  with its own environment and log file.

The test itself reads the database directly (never through the proxy), so invariants can be
checked while the system's own connections are cut.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from app.cli import api_argv, beat_argv, free_port, redis_binary, wait_for_port, worker_argv
from app.migrate import upgrade
from config.metrics import process_env
from config.settings import Settings, normalise_database_url
from tests.chaos.proxy import TcpProxy

REPO = Path(__file__).resolve().parents[2]
ADMIN_KEY = "hmn_chaos-bootstrap-admin-key-0123456789"
SECRET_KEY = "chaos-secret-key-shared-by-every-api-process"
DATABASE_NAME = "harmonia_chaos"
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
# Rate limits stay on (the limiter's Redis round trip is part of every request) but out of reach.
HIGH_RATE_LIMIT = "1000000 per minute"
TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
# Recovery timings short enough for scenarios to finish in seconds (README "Crash recovery").
RECOVERY_ENV = {
    "HARMONIA_SWEEP_INTERVAL": "2",
    "HARMONIA_UNSENT_GRACE": "3",
    "HARMONIA_STALL_SECONDS": "10",
    "HARMONIA_VISIBILITY_TIMEOUT": "30",
}
T = TypeVar("T")


def wait_until(
    check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.2
) -> T:
    """Poll ``check`` until it returns something truthy; ``TimeoutError`` naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:g}s")
        time.sleep(interval)


def not_completed(statuses: Mapping[str, str]) -> list[str]:
    """``run: status`` for each run of ``statuses`` that is not COMPLETED."""
    return [f"{run_id}: {status}" for run_id, status in statuses.items() if status != "COMPLETED"]


# -- processes -------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (every thread's list: a child may belong to any thread)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found.extend(int(each) for each in task.read_text().split())
    return found


def rss_bytes(pids: Iterable[int]) -> int:
    """Sum of VmRSS over ``pids`` (processes that vanished count 0)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"<unreadable: {exc}>"


@dataclass
class Proc:
    """A child process in its own process group (so killing it kills its pool or workers)."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:  # the child keeps its own descriptor
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} was never started"
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def tree(self) -> list[int]:
        return [self.pid, *children(self.pid)] if self.alive else []

    def kill(self) -> None:
        """SIGTERM the group, then SIGKILL whatever is left after a short grace."""
        if self.popen is None:
            return
        for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=grace)
                break


class RedisServer:
    """A private ``redis-server`` (no persistence) that can be killed and restarted on its port."""

    def __init__(self, root: Path, logs: Path):
        binary = redis_binary() or "redis-server"  # require_services checked it is there
        self.port = free_port()
        self.proc = Proc(
            "redis",
            [
                binary,
                *("--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(root)),
            ],
            {"PATH": os.environ.get("PATH", "")},
            logs / "redis.log",
        )

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc.start()
        if not wait_for_port("127.0.0.1", self.port, timeout=20):
            pytest.fail(f"redis-server did not listen on {self.port}:\n{tail(self.proc.log)}")

    def kill(self) -> None:
        """SIGKILL: everything it held (queues, unacked messages, results, caches) is lost."""
        if self.proc.alive:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.popen.wait(timeout=10)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=True)


# -- the database ----------------------------------------------------------------------------


@dataclass
class ChaosDatabase:
    """``harmonia_chaos`` on the real server: recreated once per session, emptied per scenario."""

    server_url: str  # a libpq URL of the server's maintenance database
    engine: Engine = field(init=False)

    def __post_init__(self) -> None:
        self.url = make_url(self.server_url).set(database=DATABASE_NAME)
        self.engine = create_engine(normalise_database_url(self.render()), pool_size=5)

    @property
    def host(self) -> str:
        return self.url.host or "127.0.0.1"

    @property
    def port(self) -> int:
        return self.url.port or 5432

    def render(self, port: int | None = None) -> str:
        """The database's ``postgresql://`` URL, optionally through a proxy on ``port``."""
        url = self.url if port is None else self.url.set(host="127.0.0.1", port=port)
        return url.render_as_string(hide_password=False)

    def recreate(self) -> None:
        with psycopg.connect(self.server_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {DATABASE_NAME} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {DATABASE_NAME}")
        upgrade(normalise_database_url(self.render()))

    def empty(self) -> None:
        with self.engine.begin() as connection:
            tables = connection.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'alembic_version'"
                )
            ).scalars()
            connection.execute(text(f"TRUNCATE {', '.join(tables)} CASCADE"))

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as connection:
            return list(connection.execute(text(sql), params))

    def close(self) -> None:
        self.engine.dispose()


# -- the HTTP client -------------------------------------------------------------------------


class Api:
    """Harmonia's REST API as a user drives it (one ``httpx.Client`` per thread)."""

    def __init__(self, base: str, timeout: float = 30.0):
        self.base = base
        self.http = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=timeout
        )

    def close(self) -> None:
        self.http.close()

    def create_workflow(self, name: str, tasks: dict[str, Any]) -> str:
        response = self.http.post("/api/v1/workflows", json={"name": name, "tasks": tasks})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def execute(self, workflow_id: str, input_data: Mapping[str, Any] | None = None) -> str:
        response = self.execute_raw(workflow_id, input_data)
        assert response.status_code == 202, response.text
        return response.json()["run_id"]

    def execute_raw(
        self, workflow_id: str, input_data: Mapping[str, Any] | None = None
    ) -> httpx.Response:
        return self.http.post(
            f"/api/v1/workflows/{workflow_id}/execute", json={"input_data": dict(input_data or {})}
        )

    def control(self, run_id: str, operation: str) -> httpx.Response:
        """``pause``, ``resume``, ``cancel`` or ``retry``, with README's bodies."""
        body = {"reason": "chaos"} if operation in ("pause", "cancel") else {}
        if operation == "resume":
            return self.http.post(f"/api/v1/runs/{run_id}/resume")
        return self.http.post(f"/api/v1/runs/{run_id}/{operation}", json=body)

    def run(self, run_id: str) -> dict[str, Any]:
        return self.http.get(f"/api/v1/runs/{run_id}").json()

    def steps(self, run_id: str) -> list[dict[str, Any]]:
        return self.http.get(f"/api/v1/runs/{run_id}/steps").json()

    def ready(self) -> httpx.Response:
        return self.http.get("/health/ready")


# -- the system ------------------------------------------------------------------------------


class System:
    def __init__(
        self,
        root: Path,
        database: ChaosDatabase,
        *,
        rate_limit: str = HIGH_RATE_LIMIT,
        worker_concurrency: int = 2,
    ):
        self.root = root
        self.logs = root / "logs"
        self.effects = root / "effects"  # task bodies append here (tests/chaos/effects.py)
        for folder in (self.logs, self.effects, root / "home"):
            folder.mkdir(parents=True, exist_ok=True)
        self.db = database
        self.redis = RedisServer(root, self.logs)
        self.pg_proxy = TcpProxy("postgres", (database.host, database.port))
        self.api_redis_proxy: TcpProxy | None = None
        self.port = free_port()
        self.settings = Settings(
            home=root / "home",
            host="127.0.0.1",
            port=self.port,
            worker_concurrency=worker_concurrency,
            log_level="INFO",
        )
        self.rate_limit = rate_limit
        self.procs: dict[str, Proc] = {}
        self.api = Api(f"http://127.0.0.1:{self.port}")

    # environment and processes

    def env(self, redis_url: str) -> dict[str, str]:
        """A process's environment: ours without any HARMONIA_*, then exactly the system's."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("HARMONIA_")}
        env.update(RECOVERY_ENV)
        env.update(
            {
                "PYTHONUNBUFFERED": "1",
                "HARMONIA_HOME": str(self.settings.home),
                "HARMONIA_DATABASE_URL": self.db.render(port=self.pg_proxy.port),
                "HARMONIA_REDIS_URL": redis_url,
                "HARMONIA_ADMIN_API_KEY": ADMIN_KEY,
                "HARMONIA_SECRET_KEY": SECRET_KEY,
                "HARMONIA_RATE_LIMIT": self.rate_limit,
                "HARMONIA_LOG_LEVEL": self.settings.log_level,
                "HARMONIA_HOST": self.settings.host,
                "HARMONIA_PORT": str(self.port),
                "HARMONIA_API_WORKERS": "2",
                "HARMONIA_WORKER_CONCURRENCY": str(self.settings.worker_concurrency),
                # Every process counts in one metrics directory (config/metrics.py).
                **process_env(self.settings),
            }
        )
        return env

    def _add(self, name: str, argv: list[str], redis_url: str) -> Proc:
        proc = Proc(name, argv, self.env(redis_url), self.logs / f"{name}.log")
        self.procs[name] = proc
        proc.start()
        return proc

    def start(self) -> System:
        self.redis.start()
        self.api_redis_proxy = TcpProxy("api-redis", ("127.0.0.1", self.redis.port))
        api_redis = f"redis://127.0.0.1:{self.api_redis_proxy.port}/0"
        self._add("worker", worker_argv(self.settings, name="chaos"), self.redis.url)
        self._add("beat", beat_argv(self.settings), self.redis.url)
        self._add("api", api_argv(self.settings), api_redis)
        self.wait_ready(timeout=90)
        return self

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.kill()
        self.redis.proc.kill()
        for proxy in (self.pg_proxy, self.api_redis_proxy):
            if proxy is not None:
                proxy.close()
        self.api.close()

    def wait_ready(self, timeout: float) -> None:
        """``/health/ready`` answers 200: database, Redis and a worker all reachable."""

        def ready() -> bool:
            for proc in self.procs.values():
                if not proc.alive:
                    self.fail(f"{proc.name} exited with {proc.popen.returncode} while starting")
            try:
                return self.api.ready().status_code == 200
            except httpx.HTTPError:
                return False

        self.wait(ready, timeout, "the system becomes ready (/health/ready 200)", interval=0.5)

    # the process tree

    def pool_children(self, worker: str = "worker") -> list[int]:
        return children(self.procs[worker].pid)

    def busy_pool_children(self, worker: str = "worker") -> list[int]:
        """Pool processes running a task body right now: those with a shell child."""
        return [pid for pid in self.pool_children(worker) if children(pid)]

    def kill_busy_pool_child(self, timeout: float = 20.0, worker: str = "worker") -> int:
        """SIGKILL one pool process that is running a task body; its pid."""
        busy = self.wait(
            lambda: self.busy_pool_children(worker), timeout, "a pool process runs a task body"
        )
        pid = busy[0]
        os.kill(pid, signal.SIGKILL)
        return pid

    def api_workers(self) -> list[int]:
        return children(self.procs["api"].pid)

    def process_ids(self) -> list[str]:
        """``name:pid`` of every long-lived process: the services, gunicorn's and Celery's
        children. A process that crashed and was replaced shows up as a changed pid."""
        found = []
        for name, proc in self.procs.items():
            found += [f"{name}:{pid}" for pid in proc.tree()]
        return found

    def api_rss(self) -> int:
        return rss_bytes(self.procs["api"].tree())

    def worker_rss(self) -> int:
        return rss_bytes(self.procs["worker"].tree())

    # the recovery sweep, as beat sends it

    def sweep_results(self) -> list[str]:
        """The worker's log lines of sweeps that succeeded (each ends with the sweep's report)."""
        return [
            line
            for line in (self.logs / "worker.log").read_text(errors="replace").splitlines()
            if "Task harmonia.sweep[" in line and "succeeded" in line
        ]

    def sent_by_sweep(self, run_ids: Iterable[str]) -> set[str]:
        """Runs that a sweep reports having submitted (its ``submitted`` list)."""
        reports = [line for line in self.sweep_results() if "'submitted'" in line]
        return {run_id for run_id in run_ids if any(run_id in line for line in reports)}

    def require_sweep(self, timeout: float = 15.0) -> None:
        """The scenario relies on beat's sweep: fail at once, with beat's errors, if no sweep
        succeeds (e.g. beat could not send it: "soft_time_limit must be less than or equal to
        time_limit" before the sweep's time limits were mended)."""
        try:
            wait_until(self.sweep_results, timeout, "a sweep sent by beat succeeds on the worker")
        except TimeoutError as exc:
            beat_log = (self.logs / "beat.log").read_text(errors="replace").splitlines()
            errors = [line for line in beat_log if "ERROR" in line or "Error" in line][-5:]
            self.fail(f"{exc}; beat's errors: {errors or 'none'}")

    # database reads (direct, never through the proxy)

    def statuses(self, run_ids: Iterable[str]) -> dict[str, str]:
        rows = self.db.rows("SELECT id, status FROM runs WHERE id = ANY(:ids)", ids=list(run_ids))
        return {row.id: row.status for row in rows}

    def wait_terminal(
        self, run_ids: Iterable[str], timeout: float, until: frozenset[str] = TERMINAL
    ) -> dict[str, str]:
        """Wait until every run is in ``until``; on timeout, the statuses as they are."""
        ids = list(run_ids)
        deadline = time.monotonic() + timeout
        while True:
            statuses = self.statuses(ids)
            if all(statuses.get(i) in until for i in ids) or time.monotonic() > deadline:
                return {i: statuses.get(i, "MISSING") for i in ids}
            time.sleep(0.5)

    def task_rows(self, run_ids: Iterable[str]) -> list[Any]:
        return self.db.rows(
            "SELECT run_id, task_id, status, attempt, generation, worker, "
            "EXTRACT(EPOCH FROM completed_at) AS completed_epoch "
            "FROM task_executions WHERE run_id = ANY(:ids)",
            ids=list(run_ids),
        )

    def recoveries(self, run_ids: Iterable[str]) -> dict[str, int]:
        """How often runs were helped along: tasks re-claimed from dead workers, and new
        generations started by the sweep's stall detection."""
        rows = self.db.rows(
            "SELECT count(*) FILTER (WHERE type = 'task_reclaimed') AS reclaimed, "
            "count(*) FILTER (WHERE type = 'execution_resumed' AND data->>'reason' = 'recover') "
            "AS recovered FROM events WHERE run_id = ANY(:ids)",
            ids=list(run_ids),
        )
        return {"reclaimed": rows[0].reclaimed, "recovered": rows[0].recovered}

    def event_ids(self, run_id: str) -> list[int]:
        rows = self.db.rows("SELECT id FROM events WHERE run_id = :r ORDER BY id", r=run_id)
        return [row.id for row in rows]

    # failing with the evidence

    def tails(self, lines: int = 40) -> str:
        parts = [f"logs in {self.logs}"]
        for proc in [*self.procs.values(), self.redis.proc]:
            parts.append(f"--- {proc.name} ({proc.log.name}), last {lines} lines ---")
            parts.append(tail(proc.log, lines))
        return "\n".join(parts)

    def fail(self, message: str) -> None:
        pytest.fail(f"{message}\n\n{self.tails()}", pytrace=False)

    def verify(self, problems: Mapping[str, list[str]]) -> None:
        """Fail with every kind of problem found at once (up to 10 examples of each)."""
        found = {kind: items for kind, items in problems.items() if items}
        if found:
            lines = [
                f"{kind} ({len(items)}): " + "\n  ".join(items[:10])
                for kind, items in found.items()
            ]
            self.fail(f"{sum(map(len, found.values()))} problem(s):\n" + "\n".join(lines))

    def wait(self, check: Callable[[], T | None], timeout: float, what: str, **kw: Any) -> T:
        try:
            return wait_until(check, timeout, what, **kw)
        except TimeoutError as exc:
            self.fail(str(exc))
            raise  # unreachable: fail raises


def require_services(database: ChaosDatabase) -> None:
    """The suite needs real services: a missing one fails (under CI and elsewhere), never skips."""
    ci = os.environ.get("CI", "").lower() == "true"
    where = " (CI=true)" if ci else ""
    if redis_binary() is None:
        pytest.fail(f"redis-server is not on PATH{where}: the chaos suite needs real Redis")
    try:
        database.recreate()
    except Exception as exc:
        pytest.fail(
            f"Postgres at {database.server_url} is unusable{where}: {exc}. The chaos suite needs "
            "a real Postgres (set HARMONIA_TEST_DATABASE_URL to point at one)",
            pytrace=False,
        )


def server_url() -> str:
    configured = os.environ.get("HARMONIA_TEST_DATABASE_URL", "")
    if not configured:
        return DEFAULT_SERVER
    url = make_url(configured.replace("postgresql+psycopg://", "postgresql://"))
    return url.set(database="postgres").render_as_string(hide_password=False)
