"""Fixtures of the chaos suite: the dedicated database, a live system per scenario, and the
one-line summaries printed at the end of the session (whatever ``-s`` says).

Each scenario starts its own ``System`` (tests/chaos/system.py), so a scenario's faults, its
leftover messages and its processes never leak into the next one; the database is emptied
between scenarios and recreated once per session.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chaos import profile
from tests.chaos.system import ChaosDatabase, System, require_services, server_url

SUMMARIES: list[str] = []
KEEP_SESSIONS = 5  # output folders of earlier sessions kept for post-mortems
OUTPUT: list[Path] = []  # this session's output folder, once made


@pytest.fixture(scope="session")
def chaos_output() -> Path:
    """Where scenarios keep their logs and task-body files: ``$CHAOS_OUTPUT_DIR``, else a fresh
    folder under ``<tmp>/harmonia-chaos``. Not pytest's tmp_path, which other pytest sessions on
    the machine rotate away while one may still be reading the logs of a failure."""
    configured = os.environ.get("CHAOS_OUTPUT_DIR")
    if configured:
        root = Path(configured)
    else:
        parent = Path(tempfile.gettempdir()) / "harmonia-chaos"
        parent.mkdir(exist_ok=True)
        for old in sorted(parent.iterdir())[:-KEEP_SESSIONS]:
            shutil.rmtree(old, ignore_errors=True)
        root = parent / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    root.mkdir(parents=True, exist_ok=True)
    OUTPUT.append(root)
    return root


@pytest.fixture(scope="session")
def chaos_profile() -> profile.Profile:
    return profile.current()


@pytest.fixture(scope="session")
def chaos_db() -> Iterator[ChaosDatabase]:
    database = ChaosDatabase(server_url())
    require_services(database)
    yield database
    database.close()


@pytest.fixture
def make_system(
    chaos_db: ChaosDatabase, chaos_output: Path, request
) -> Iterator[Callable[..., System]]:
    """Start a system (options as ``System``'s); every process is killed at teardown, even when
    the scenario failed or timed out."""
    systems: list[System] = []

    def make(**options: Any) -> System:
        chaos_db.empty()
        system = System(chaos_output / request.node.name, chaos_db, **options)
        systems.append(system)  # before start: a half-started system is stopped too
        return system.start()

    yield make
    for system in systems:
        system.stop()


@pytest.fixture
def report(request) -> Callable[..., str]:
    """``report(name, submitted=, completed=, duplicated=, lost=None, **extra)``: the scenario's
    summary line, kept for the terminal summary and as a junit property."""
    started = time.monotonic()

    def record(
        name: str,
        *,
        submitted: int,
        completed: int,
        duplicated: int,
        lost: int | None = None,
        **extra: Any,
    ) -> str:
        lost = submitted - completed if lost is None else lost
        extra["wall"] = f"{time.monotonic() - started:.0f}s"
        details = " ".join(f"{key}={value}" for key, value in extra.items())
        line = (
            f"chaos {name}: submitted={submitted} completed={completed} lost={lost} "
            f"duplicated={duplicated} {details}"
        )
        SUMMARIES.append(line)
        request.node.user_properties.append(("chaos_summary", line))
        print(line)
        return line

    return record


def pytest_terminal_summary(terminalreporter) -> None:
    if SUMMARIES:
        terminalreporter.section(f"chaos summary (profile {profile.current().name})")
        for line in SUMMARIES:
            terminalreporter.write_line(line)
    if OUTPUT:
        terminalreporter.write_line(f"chaos logs: {OUTPUT[0]}")
