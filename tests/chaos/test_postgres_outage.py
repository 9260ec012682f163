"""postgres_outage: the database's port is cut for ~15 s while runs are in flight.

Every Harmonia process reaches Postgres through a proxy; the scenario resets every connection
and refuses new ones. What should happen:

- while it lasts, API writes answer 503 with the JSON error body (never a 500, never a reset
  or hung connection), and ``/health/ready`` answers 503 naming the database;
- afterwards, with nothing restarted, ``/health/ready`` is 200 again, every run started before
  completes, and no half-written run exists: each run has all its task rows, and no run exists
  for a request that was answered 503.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

import httpx
import pytest

from tests.chaos.effects import audit, chain
from tests.chaos.system import Api, System, not_completed

CHAIN = 6


@dataclass
class OutageProbes:
    """What the API answered while the database was away."""

    answers: int = 0
    refused_tokens: list[str] = field(default_factory=list)  # execute answered 503
    violations: list[str] = field(default_factory=list)

    def expect_503(self, what: str, call) -> httpx.Response | None:
        self.answers += 1
        try:
            response = call()
        except httpx.TimeoutException as exc:
            self.violations.append(f"{what}: no answer ({exc.__class__.__name__})")
            return None
        except httpx.TransportError as exc:
            self.violations.append(f"{what}: connection failed ({exc.__class__.__name__}: {exc})")
            return None
        body = _json(response)
        if response.status_code != 503 or body is None:
            self.violations.append(f"{what}: {response.status_code} {response.text[:300]}")
            return None
        return response

    def probe(self, api: Api, workflow_id: str, run_id: str) -> None:
        token = uuid.uuid4().hex
        execute = self.expect_503(
            "POST execute", lambda: api.execute_raw(workflow_id, {"token": token})
        )
        if execute is not None:
            self.refused_tokens.append(token)
            if execute.json().get("status_code") != 503:
                self.violations.append(f"POST execute: error body {execute.text[:300]}")
        self.expect_503("POST cancel", lambda: api.control(run_id, "cancel"))
        ready = self.expect_503("GET /health/ready", api.ready)
        if ready is not None:
            database = ready.json().get("checks", {}).get("database", {})
            if database.get("status") != "unhealthy":
                self.violations.append(f"/health/ready does not name the database: {ready.text}")


def _json(response: httpx.Response) -> dict | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def half_written(system: System) -> list[str]:
    """Any run (not only ours) whose task rows are not all there: every workflow here has
    CHAIN tasks."""
    rows = system.db.rows(
        "SELECT r.id, count(t.id) AS tasks FROM runs r "
        "LEFT JOIN task_executions t ON t.run_id = r.id GROUP BY r.id"
    )
    return [f"{row.id}: {row.tasks} task rows" for row in rows if row.tasks != CHAIN]


@pytest.mark.timeout(300)
def test_postgres_outage(make_system, report, chaos_profile):
    system = make_system()
    system.require_sweep()
    workflow_id = system.api.create_workflow("pg-chain", chain(system.effects, CHAIN, (0.4, 0.8)))
    run_ids = [
        system.api.execute(workflow_id, {"token": "before"})
        for _ in range(chaos_profile.postgres_outage_runs)
    ]
    time.sleep(2)  # runs in flight
    processes = system.process_ids()

    probes = OutageProbes()
    api = Api(system.api.base, timeout=15)
    with system.pg_proxy.blocked():
        cut = time.monotonic()
        time.sleep(1)  # the API notices on its next query, not before
        while time.monotonic() - cut < chaos_profile.postgres_outage_seconds - 2:
            probes.probe(api, workflow_id, run_ids[-1])
            time.sleep(1.5)
    restored = time.monotonic()

    system.wait(lambda: api.ready().status_code == 200, 45, "/health/ready 200 after the outage")
    ready_after = time.monotonic() - restored
    statuses = system.wait_terminal(run_ids, timeout=150)
    found = audit(system, run_ids)
    partial = half_written(system)
    ghosts = system.db.rows(
        "SELECT id, input_data->>'token' AS token FROM runs WHERE input_data->>'token' = ANY(:t)",
        t=probes.refused_tokens,
    )
    completed = sum(status == "COMPLETED" for status in statuses.values())
    restarted = sorted(set(processes) - set(system.process_ids()))
    report(
        "postgres_outage",
        submitted=len(run_ids),
        completed=completed,
        duplicated=len(found.duplicated),
        probes=probes.answers,
        bad_answers=len(probes.violations),
        ready_after=f"{ready_after:.1f}s",
        half_written=len(partial) + len(ghosts),
        restarted_processes=len(restarted),
        **system.recoveries(run_ids),
    )
    api.close()
    system.verify(
        {
            "answers during the outage": probes.violations,
            "processes replaced during the outage": restarted,
            "runs that did not complete": not_completed(statuses),
            "runs without all their task rows": partial,
            "runs that exist for requests answered 503": [f"{g.id} ({g.token})" for g in ghosts],
            "task bodies run after their completion was recorded": found.duplicated,
        }
    )
