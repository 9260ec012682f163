"""How hard each scenario pushes: ``CHAOS_PROFILE=full`` (default, ~10 minutes on 2 cores) or
``short`` (CI, ~5 minutes): fewer runs, fewer faults, a shorter soak."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    worker_kill_runs: int
    worker_kills: int
    redis_restart_runs: int
    postgres_outage_runs: int
    postgres_outage_seconds: float
    api_crash_rounds: int
    api_crash_runs_per_round: int
    control_runs: int
    control_threads: int
    control_seconds: float
    soak_runs: int
    soak_rate: float  # runs submitted per second


FULL = Profile(
    name="full",
    worker_kill_runs=20,
    worker_kills=6,
    redis_restart_runs=10,
    postgres_outage_runs=8,
    postgres_outage_seconds=15,
    api_crash_rounds=3,
    api_crash_runs_per_round=2,
    control_runs=10,
    control_threads=20,
    control_seconds=20,
    soak_runs=500,
    soak_rate=3.0,
)
SHORT = Profile(
    name="short",
    worker_kill_runs=10,
    worker_kills=4,
    redis_restart_runs=6,
    postgres_outage_runs=5,
    postgres_outage_seconds=12,
    api_crash_rounds=2,
    api_crash_runs_per_round=1,
    control_runs=6,
    control_threads=10,
    control_seconds=10,
    soak_runs=100,
    soak_rate=3.0,
)
PROFILES = {p.name: p for p in (FULL, SHORT)}


def current() -> Profile:
    name = os.environ.get("CHAOS_PROFILE", "full").strip().lower() or "full"
    if name not in PROFILES:
        raise ValueError(f"CHAOS_PROFILE={name!r}: expected one of {sorted(PROFILES)}")
    return PROFILES[name]
