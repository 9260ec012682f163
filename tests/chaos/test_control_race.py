"""control_race: many clients pause, resume, cancel and retry the same runs at once.

Each control operation is a compare-and-set on the run (README "Controlling runs"): the loser
of a race gets a 4xx naming the status it found, never a 500. After the storm the runs are
settled (paused ones resumed) and each must hold these invariants, read from the database:

- it is terminal, and stays so (status, generation and control sequence unchanged several
  sweep intervals later);
- its tasks agree with its status (app/models/status.py, app/services/control.py,
  worker/progression.py): COMPLETED means every task COMPLETED or SKIPPED (finalize_run
  completes a run only when every task is terminal and none FAILED, and our tasks never fail
  on their own); FAILED and CANCELLED mean every task is terminal (TASK_TERMINAL: no PENDING,
  RUNNING or RETRYING; cancel turns PENDING/RETRYING tasks CANCELLED and waits for RUNNING
  ones to stop);
- its generation ended once: after its last ``execution_resumed`` event there is exactly one
  terminal run event, and it matches the status;
- no task body ran after its completion was recorded.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
import pytest

from tests.chaos.effects import audit, chain, nested
from tests.chaos.system import TERMINAL, Api, System

OPERATIONS = ("pause", "resume", "cancel", "retry")
DONE = {"COMPLETED", "SKIPPED"}
TASK_TERMINAL = {"COMPLETED", "FAILED", "SKIPPED", "UPSTREAM_FAILED", "CANCELLED"}
ENDS = {
    "COMPLETED": "execution_completed",
    "FAILED": "execution_failed",
    "CANCELLED": "execution_cancelled",
}


@dataclass
class Calls:
    codes: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)  # 5xx and broken connections
    lock: threading.Lock = field(default_factory=threading.Lock)

    def call(self, api: Api, run_id: str, operation: str) -> None:
        try:
            response = api.control(run_id, operation)
        except httpx.HTTPError as exc:
            outcome, error = exc.__class__.__name__, f"{operation} {run_id}: {exc!r}"
        else:
            outcome = str(response.status_code)
            error = (
                f"{operation} {run_id}: {response.status_code} {response.text[:300]}"
                if response.status_code >= 500
                else None
            )
        with self.lock:
            self.codes[outcome] += 1
            if error:
                self.errors.append(error)


def storm(system: System, run_ids: list[str], threads: int, seconds: float, calls: Calls):
    deadline = time.monotonic() + seconds

    def client(seed: int) -> None:
        rng = random.Random(seed)
        api = Api(system.api.base, timeout=30)
        try:
            while time.monotonic() < deadline:
                calls.call(api, rng.choice(run_ids), rng.choice(OPERATIONS))
                time.sleep(rng.uniform(0.0, 0.2))
        finally:
            api.close()

    workers = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=seconds + 60)


def settle(system: System, run_ids: list[str], calls: Calls, timeout: float) -> dict[str, str]:
    """Resume whatever is paused (or pausing) until every run is terminal."""
    deadline = time.monotonic() + timeout
    while True:
        statuses = system.statuses(run_ids)
        waiting = {r: s for r, s in statuses.items() if s not in TERMINAL}
        if not waiting or time.monotonic() > deadline:
            return statuses
        for run_id, status in waiting.items():
            if status in ("PAUSED", "PAUSING"):
                calls.call(system.api, run_id, "resume")
        time.sleep(1.0)


def run_records(system: System, run_ids: list[str]) -> dict[str, tuple]:
    rows = system.db.rows(
        "SELECT id, status, generation, control_seq FROM runs WHERE id = ANY(:ids)", ids=run_ids
    )
    return {row.id: (row.status, row.generation, row.control_seq) for row in rows}


def task_violations(system: System, statuses: dict[str, str]) -> list[str]:
    tasks: dict[str, list[str]] = {}
    for row in system.task_rows(statuses):
        tasks.setdefault(row.run_id, []).append(f"{row.task_id}={row.status}")
    found = []
    for run_id, status in statuses.items():
        states = {entry.split("=")[1] for entry in tasks.get(run_id, [])}
        allowed = DONE if status == "COMPLETED" else TASK_TERMINAL
        if not states <= allowed or (status == "FAILED" and "FAILED" not in states):
            found.append(f"{run_id} {status} with tasks {sorted(tasks[run_id])}")
    return found


def ending_violations(system: System, statuses: dict[str, str]) -> list[str]:
    found = []
    for run_id, status in statuses.items():
        rows = system.db.rows(
            "SELECT type FROM events WHERE run_id = :r AND task_id IS NULL ORDER BY id", r=run_id
        )
        types = [row.type for row in rows]
        last_start = max((i for i, t in enumerate(types) if t == "execution_resumed"), default=-1)
        ends = [t for t in types[last_start + 1 :] if t in ENDS.values()]
        if ends != [ENDS.get(status)]:
            found.append(f"{run_id} {status}: terminal events of its last generation {ends}")
    return found


@pytest.mark.timeout(300)
def test_control_race(make_system, report, chaos_profile):
    system = make_system()
    system.require_sweep()
    workflows = [
        system.api.create_workflow("race-chain5", chain(system.effects, 5, (0.5, 1.0))),
        system.api.create_workflow("race-nested", nested(system.effects, (0.5, 1.0))),
    ]
    run_ids = [system.api.execute(workflows[i % 2]) for i in range(chaos_profile.control_runs)]
    calls = Calls()
    storm(system, run_ids, chaos_profile.control_threads, chaos_profile.control_seconds, calls)
    statuses = settle(system, run_ids, calls, timeout=120)

    before = run_records(system, run_ids)
    time.sleep(6)  # three sweep intervals: nothing may move a terminal run
    after = run_records(system, run_ids)
    unstable = [f"{r}: {before[r]} → {after[r]}" for r in run_ids if before[r] != after[r]]
    not_terminal = {r: s for r, s in statuses.items() if s not in TERMINAL}
    wrong_tasks = task_violations(system, statuses)
    wrong_endings = ending_violations(system, statuses)
    found = audit(system, run_ids)
    problems = {
        "not terminal": [f"{r}: {s}" for r, s in not_terminal.items()],
        "unstable": unstable,
        "tasks disagree with their run": wrong_tasks,
        "generation did not end exactly once": wrong_endings,
        "5xx or broken control calls": calls.errors,
        "bodies run after completion": found.duplicated,
    }
    violations = sum(len(items) for items in problems.values())
    report(
        "control_race",
        submitted=len(run_ids),
        completed=len(run_ids) - len(not_terminal),
        duplicated=len(found.duplicated),
        violations=violations,
        calls=sum(calls.codes.values()),
        codes=",".join(f"{code}:{n}" for code, n in sorted(calls.codes.items())),
        final=",".join(f"{s}:{n}" for s, n in sorted(Counter(statuses.values()).items())),
    )
    system.verify(problems)
