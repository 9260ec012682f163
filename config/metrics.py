"""Where the processes of one deployment keep their Prometheus metrics (multiprocess mode).

Every gunicorn worker and every Celery process counts in files of its own in one directory, and
``/metrics`` sums those files, whichever API process is scraped. prometheus_client chooses that
storage from ``PROMETHEUS_MULTIPROC_DIR`` when a process creates its metrics, so each start path
sets the variable, from ``HARMONIA_METRICS_DIR`` (default ``$HARMONIA_HOME/metrics``), before the
process imports them: ``harmonia dev``/``api``/``worker``/``notifier``/``beat`` give it to the
process they start (``process_env``), ``harmonia monitor`` sets it for itself (``export``),
gunicorn's config sets it for a bare ``gunicorn`` command.
A process started without it (a shell, a unit test) keeps its metrics in memory.

The directory is emptied when a deployment starts (``reset``: ``harmonia dev``; docker-compose
mounts a tmpfs volume that disappears with the last container), never while one runs: a dead
process's counts must stay in the sums, and a live process would go on writing to a deleted file.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from config.settings import Settings

ENV = "PROMETHEUS_MULTIPROC_DIR"


def process_env(settings: Settings) -> dict[str, str]:
    """The variable a process of this deployment starts with (its directory created)."""
    path = settings.resolved_metrics_dir.resolve()
    path.mkdir(parents=True, exist_ok=True)
    return {ENV: str(path)}


def export(settings: Settings) -> None:
    """Set the variable in this process (gunicorn's config: before the app is imported)."""
    os.environ.update(process_env(settings))


def reset(settings: Settings) -> None:
    """Delete the metric files of an earlier deployment (before any process of this one starts)."""
    path = settings.resolved_metrics_dir
    if path.is_dir():
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)


def multiprocess_dir() -> Path | None:
    """This process's metrics directory (created if missing), or None: metrics in memory."""
    value = os.environ.get(ENV)
    if not value:
        return None
    path = Path(value)
    path.mkdir(parents=True, exist_ok=True)
    return path


def process_identity(pid: int | None = None) -> str:
    """Names a process's metric files: the host as well as the pid, because containers sharing
    one directory reuse pids (each has its own pid 1, 7, 8…). No ``_``: prometheus_client splits
    file names on it."""
    host = socket.gethostname().replace("_", "-")
    return f"{host}-{os.getpid() if pid is None else pid}"
