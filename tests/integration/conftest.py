"""Integration fixtures: real database, real Redis, a real Celery worker process.

Services come from ``HARMONIA_TEST_DATABASE_URL`` / ``HARMONIA_TEST_REDIS_URL``. Where those are
unset the suite uses the embedded default (SQLite + an embedded Redis server) so it passes on a
laptop; under CI (``CI=true``) a missing or unreachable service fails the run, never skips it.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from app.cli import notifier_argv, start_embedded_redis, worker_argv
from app.migrate import upgrade
from config.metrics import process_env
from config.settings import Settings, normalise_database_url
from tests.integration.api_support import ADMIN_KEY, admin_app, gunicorn_api

# The browser harness (real headless Chromium on the live server): see its docstring.
from tests.integration.browser import (  # noqa: F401
    browser,
    chromium_path,
    new_page,
    page,
    phone_page,
    pytest_runtest_makereport,
)

CI = os.environ.get("CI", "").lower() == "true"
TABLES = (
    "webhook_outbox",
    "webhook_deliveries",
    "webhooks",
    "api_keys",
    "users",
    "invocations",
    "checkpoints",
    "run_state",
    "events",
    "task_executions",
    "runs",
    "workflows",
    "templates",
    "agents",
)


def _require(condition: bool, message: str) -> None:
    if not condition:
        pytest.fail(message, pytrace=False)


def _reset_database(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade(url)  # tests run the migrations, not create_all


@pytest.fixture(scope="session")
def settings(tmp_path_factory) -> Settings:
    home = tmp_path_factory.mktemp("harmonia-home")
    db_url = os.environ.get("HARMONIA_TEST_DATABASE_URL", "")
    redis_url = os.environ.get("HARMONIA_TEST_REDIS_URL", "")
    if CI:
        _require(bool(db_url), "CI=true needs HARMONIA_TEST_DATABASE_URL (real Postgres)")
        _require(bool(redis_url), "CI=true needs HARMONIA_TEST_REDIS_URL (real Redis)")
    embedded = None
    if not redis_url:
        embedded, redis_url = start_embedded_redis(home)
    try:
        redis.Redis.from_url(redis_url).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {redis_url} is unreachable: {exc}", pytrace=False)
    redis.Redis.from_url(redis_url).flushdb()
    database_url = normalise_database_url(db_url) if db_url else f"sqlite:///{home}/harmonia.db"
    try:
        _reset_database(database_url)
    except Exception as exc:
        pytest.fail(f"database at {database_url} is unusable: {exc}", pytrace=False)
    yield Settings(
        home=home,
        database_url=database_url,
        redis_url=redis_url,
        segment_size=50,  # small segments, so tests exercise harmonia.advance
        visibility_timeout=60,
        worker_concurrency=4,
        log_level="WARNING",
        admin_api_key=ADMIN_KEY,
        # Limits stay on (the limiter's Redis path runs in every request) but out of the way;
        # tests/integration/test_security.py checks them with small ones.
        rate_limit="100000 per minute",
        login_rate_limit="10000 per minute",
        # Receivers run on 127.0.0.1; retries come fast (attempts 0.2 s, 0.4 s, 0.8 s… apart),
        # a delivery is dead after 5 of them (3 s), an endpoint disabled after 3 dead ones.
        webhook_allow_private=True,
        webhook_backoff=0.2,
        webhook_timeout=5.0,
        webhook_max_attempts=5,
        webhook_disable_after=3,
    )
    if isinstance(embedded, subprocess.Popen):
        embedded.terminate()


def settings_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "HARMONIA_HOME": str(settings.home),
            "HARMONIA_DATABASE_URL": settings.database_url,
            "HARMONIA_REDIS_URL": settings.redis_url,
            "HARMONIA_QUEUE": settings.default_queue,
            "HARMONIA_SEGMENT_SIZE": str(settings.segment_size),
            "HARMONIA_VISIBILITY_TIMEOUT": str(settings.visibility_timeout),
            "HARMONIA_LOG_LEVEL": settings.log_level,
            "HARMONIA_ADMIN_API_KEY": settings.admin_api_key,
            "HARMONIA_RATE_LIMIT": settings.rate_limit,
            "HARMONIA_LOGIN_RATE_LIMIT": settings.login_rate_limit,
            "HARMONIA_WEBHOOK_ALLOW_PRIVATE": str(settings.webhook_allow_private).lower(),
            "HARMONIA_WEBHOOK_BACKOFF": str(settings.webhook_backoff),
            "HARMONIA_WEBHOOK_TIMEOUT": str(settings.webhook_timeout),
            "HARMONIA_WEBHOOK_MAX_ATTEMPTS": str(settings.webhook_max_attempts),
            "HARMONIA_WEBHOOK_DISABLE_AFTER": str(settings.webhook_disable_after),
            "HARMONIA_NOTIFY_CONCURRENCY": str(settings.notify_concurrency),
            "HARMONIA_NOTIFY_NICE": str(settings.notify_nice),
            # Every process the suite starts counts in the session's metrics directory
            # (HARMONIA_HOME/metrics), summed by the gunicorn API's /metrics.
            "HARMONIA_METRICS_DIR": str(settings.resolved_metrics_dir),
            **process_env(settings),
        }
    )
    return env


@pytest.fixture(scope="session")
def app(settings):
    application = admin_app(settings)
    yield application
    application.extensions["harmonia"].close()


@pytest.fixture(scope="session")
def rt(app):
    return app.extensions["harmonia"]


@pytest.fixture(scope="session")
def worker(settings, rt):
    """A real Celery worker process on the test broker and database."""
    log_path = Path(settings.home) / "worker.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            worker_argv(settings, concurrency=settings.worker_concurrency),
            env=settings_env(settings),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"worker exited early:\n{log_path.read_text()[-3000:]}", pytrace=False)
        if rt.celery.control.ping(timeout=0.5):
            break
    else:
        process.terminate()
        pytest.fail("worker did not answer a ping within 60s", pytrace=False)
    yield process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def start_process(argv: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    with open(log_path, "a") as log:
        return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)


def stop_process(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def notifier(settings, worker):
    """A real webhook notifier (``harmonia notifier``) on the notify queue."""
    process = start_process(
        notifier_argv(), settings_env(settings), Path(settings.home) / "notifier.log"
    )
    yield process
    stop_process(process)


@pytest.fixture(scope="module")
def server(settings, worker, tmp_path_factory):
    """The API as production runs it (gunicorn), with the worker behind it: ``host:port``."""
    log = tmp_path_factory.mktemp("api") / "api.log"
    with gunicorn_api(settings, settings_env(settings), log) as address:
        yield address


@pytest.fixture
def clean(rt):
    """Empty tables. The worker may still be finishing an earlier test's run (its last events);
    when Postgres picks this delete as a deadlock's victim, it is simply tried again."""
    for attempt in range(5):
        try:
            with rt.db.engine.begin() as connection:
                for table in TABLES:
                    connection.execute(text(f"DELETE FROM {table}"))
            break
        except OperationalError as exc:
            if "deadlock" not in str(exc).lower() or attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))
    yield


@pytest.fixture
def client(app, clean):
    return app.test_client()


@pytest.fixture
def live(client, worker):
    """A test client with a running worker behind it."""
    return client
