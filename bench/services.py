"""Which database and Redis the bench uses, and the one Celery worker it starts.

Order of choice: ``HARMONIA_DATABASE_URL`` / ``HARMONIA_REDIS_URL``, then the test suite's
``HARMONIA_TEST_*`` URLs, then the embedded default (SQLite in a temporary home plus an embedded
Redis server). The bench always flushes its Redis database, so it uses a dedicated one (``/14``)
unless ``HARMONIA_REDIS_URL`` names a database explicitly.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import redis
from celery import Celery
from sqlalchemy import create_engine, text

from app.cli import start_embedded_redis, worker_argv
from app.migrate import upgrade
from bench.probe import ENV as PROBE_ENV
from config.settings import Settings, normalise_database_url

BENCH_REDIS_DB = 14
ROOT = Path(__file__).resolve().parent.parent
BENCH_PREFIX = "bench-"


def with_redis_db(url: str, db: int, *, force: bool) -> str:
    """``url`` pointing at database ``db`` when it names none (or always, with ``force``)."""
    parts = urlsplit(url)
    if parts.path.strip("/") and not force:
        return url
    return urlunsplit(parts._replace(path=f"/{db}"))


@dataclass
class Services:
    settings: Settings
    env: dict[str, str]
    db_kind: str
    redis_host: str
    home: Path
    _cleanup: list = field(default_factory=list)

    def close(self) -> None:
        for action in reversed(self._cleanup):
            # Best effort: the bench is already reporting or failing.
            with contextlib.suppress(Exception):
                action()
        self._cleanup.clear()


def pick_services(concurrency: int) -> Services:
    """Choose and prepare the services; the returned env is what the worker and API both see."""
    home = Path(tempfile.mkdtemp(prefix="harmonia-bench-"))
    cleanup: list = [lambda: shutil.rmtree(home, ignore_errors=True)]
    db_url = os.environ.get("HARMONIA_DATABASE_URL") or os.environ.get(
        "HARMONIA_TEST_DATABASE_URL", ""
    )
    if os.environ.get("HARMONIA_REDIS_URL"):
        redis_url = with_redis_db(os.environ["HARMONIA_REDIS_URL"], BENCH_REDIS_DB, force=False)
    elif os.environ.get("HARMONIA_TEST_REDIS_URL"):
        redis_url = with_redis_db(os.environ["HARMONIA_TEST_REDIS_URL"], BENCH_REDIS_DB, force=True)
    else:
        server, url = start_embedded_redis(home)
        stop = server.terminate if isinstance(server, subprocess.Popen) else server.shutdown
        cleanup.append(stop)
        redis_url = with_redis_db(url, BENCH_REDIS_DB, force=True)
    database_url = normalise_database_url(db_url) if db_url else f"sqlite:///{home}/harmonia.db"
    env = dict(os.environ)
    env.update(
        {
            "HARMONIA_HOME": str(home),
            "HARMONIA_DATABASE_URL": database_url,
            "HARMONIA_REDIS_URL": redis_url,
            "HARMONIA_WORKER_CONCURRENCY": str(concurrency),
            # Recorded only in the sizes pass (``Worker(record_sizes=True)``): its Redis write
            # per message would weigh on both sides of every timed run.
            "HARMONIA_RECORD_MESSAGE_SIZES": "false",
            # The webhook measurement's receiver listens on 127.0.0.1.
            "HARMONIA_WEBHOOK_ALLOW_PRIVATE": "true",
            "HARMONIA_LOG_LEVEL": env.get("HARMONIA_LOG_LEVEL", "WARNING"),
        }
    )
    services = Services(
        Settings.from_env(env),
        env,
        "postgresql" if database_url.startswith("postgresql") else "sqlite",
        urlsplit(redis_url).hostname or "?",
        home,
        cleanup,
    )
    try:
        redis.Redis.from_url(redis_url).flushdb()
        upgrade(database_url)
        delete_bench_rows(database_url)
        vacuum(database_url)
    except Exception:
        services.close()
        raise
    return services


def delete_bench_rows(database_url: str) -> None:
    """Remove what earlier bench runs left (workflows named ``bench-…``), and nothing else."""
    engine = create_engine(database_url)
    runs = (
        "SELECT r.id FROM runs r JOIN workflows w ON w.id = r.workflow_definition_id "
        f"WHERE w.name LIKE '{BENCH_PREFIX}%'"
    )
    with engine.begin() as connection:
        connection.execute(text(f"DELETE FROM events WHERE run_id IN ({runs})"))
        connection.execute(text(f"DELETE FROM task_executions WHERE run_id IN ({runs})"))
        connection.execute(text(f"DELETE FROM runs WHERE id IN ({runs})"))
        connection.execute(text(f"DELETE FROM workflows WHERE name LIKE '{BENCH_PREFIX}%'"))
    engine.dispose()


def vacuum(database_url: str) -> None:
    """``VACUUM ANALYZE`` Harmonia's busiest tables on Postgres, so every shape starts from fresh
    planner statistics and no dead rows, even where autovacuum is off."""
    if not database_url.startswith("postgresql"):
        return
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(
            text(
                "VACUUM ANALYZE events, task_executions, runs, run_state, workflows, "
                "webhook_deliveries, webhook_outbox"
            )
        )
    engine.dispose()


class Worker:
    """One real Celery worker process running Harmonia's tasks and ``bench.noop``.

    With ``probe`` (a directory), the worker records what each task costs (``bench/probe.py``).
    With ``record_sizes``, every task message it publishes goes to the bench's message-size
    record (``app/services/message_stats.py``), a Redis write per message: only for the untimed
    sizes pass, as production has no such write.
    """

    def __init__(
        self,
        services: Services,
        concurrency: int,
        log_path: Path,
        probe: Path | None = None,
        record_sizes: bool = False,
    ):
        env = services.env
        modules = "bench.bare"
        if probe is not None:
            env = {**env, PROBE_ENV: str(probe)}
            modules += ",bench.probe"
        if record_sizes:
            env = {**env, "HARMONIA_RECORD_MESSAGE_SIZES": "true"}
        argv = worker_argv(
            services.settings, concurrency=concurrency, name="bench", extra=["--include", modules]
        )
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path
        with open(log_path, "w") as log:
            self.process = subprocess.Popen(
                argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )

    def wait_ready(self, client: Celery, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_path.read_text()[-3000:]
                raise RuntimeError(f"worker exited with {self.process.returncode}:\n{tail}")
            if client.control.ping(timeout=0.5):
                return
        raise RuntimeError(f"worker did not answer a ping within {timeout:g}s")

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
