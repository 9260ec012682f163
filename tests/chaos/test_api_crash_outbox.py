"""api_crash_outbox: the API dies between committing a run and handing it to the broker.

The API's own Redis is frozen (connections held open, no byte moving), so ``POST execute``
commits the run row and then hangs sending ``harmonia.begin_run``. The scenario waits for
the committed row (``submitted_at IS NULL``), kills every gunicorn worker with SIGKILL (the
master respawns them) and thaws the network. What should happen (README "Crash recovery", the
outbox): the recovery sweep, sent by beat, finds the unsent run after ``HARMONIA_UNSENT_GRACE``
and sends it; the run completes and each task body runs exactly once, even if the dead
process's half-sent message reaches the broker after all when the network thaws.
"""

from __future__ import annotations

import os
import signal
import threading
import uuid

import httpx
import pytest

from tests.chaos.effects import body_lines, chain
from tests.chaos.system import Api, System, not_completed

TASKS = 3


def post_in_background(system: System, workflow_id: str, token: str, outcomes: list[str]):
    """POST execute in a thread; record how it ended (it is expected to die with its worker)."""

    def post() -> None:
        api = Api(system.api.base, timeout=60)
        try:
            outcomes.append(str(api.execute_raw(workflow_id, {"token": token}).status_code))
        except httpx.HTTPError as exc:
            outcomes.append(exc.__class__.__name__)
        finally:
            api.close()

    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    return thread


def unsent_runs(system: System, tokens: list[str]) -> list[str]:
    rows = system.db.rows(
        "SELECT id FROM runs WHERE input_data->>'token' = ANY(:t) AND submitted_at IS NULL",
        t=tokens,
    )
    return [row.id for row in rows]


def all_or_none(found: list[str] | list[int], count: int):
    """``found`` once it has ``count`` members, else None (to keep waiting)."""
    return found if len(found) == count else None


def crash_round(
    system: System, workflow_id: str, count: int, outcomes: list[str]
) -> tuple[list[str], int]:
    """One round: freeze, POST ``count`` runs, kill the API workers once all are committed.
    Returns the runs, and how many of their POSTs were still hanging when the API died."""
    tokens = [uuid.uuid4().hex for _ in range(count)]
    proxy = system.api_redis_proxy
    proxy.freeze()
    try:
        threads = [post_in_background(system, workflow_id, t, outcomes) for t in tokens]
        run_ids = system.wait(
            lambda: all_or_none(unsent_runs(system, tokens), count),
            20,
            f"{count} run row(s) committed with submitted_at NULL while the API's Redis is frozen",
        )
        hung = sum(thread.is_alive() for thread in threads)
        killed = system.api_workers()
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
    finally:
        proxy.thaw()
    system.wait(
        lambda: all_or_none([p for p in system.api_workers() if p not in killed], len(killed)),
        30,
        "gunicorn respawns its workers",
    )
    for thread in threads:
        thread.join(timeout=10)
    return run_ids, hung


@pytest.mark.timeout(300)
def test_api_crash_outbox(make_system, report, chaos_profile):
    # The rate limiter counts each request in Redis before the view runs: with the API's Redis
    # frozen, requests would hang there and never reach the commit-then-send under test.
    system = make_system(rate_limit="")
    system.require_sweep()
    workflow_id = system.api.create_workflow("outbox", chain(system.effects, TASKS, (0.2, 0.4)))
    outcomes: list[str] = []
    run_ids: list[str] = []
    hung = 0  # POSTs still waiting on the broker when their API process died
    for _ in range(chaos_profile.api_crash_rounds):
        runs, waiting = crash_round(
            system, workflow_id, chaos_profile.api_crash_runs_per_round, outcomes
        )
        run_ids += runs
        hung += waiting

    statuses = system.wait_terminal(run_ids, timeout=90)
    lines = {run_id: body_lines(system.effects, run_id) for run_id in run_ids}
    not_once = []
    for row in system.task_rows(run_ids):
        runs = len(lines[row.run_id].get(row.task_id, []))
        if runs != 1 or row.attempt != 1:
            not_once.append(f"{row.run_id}/{row.task_id}: {runs} body runs, attempt {row.attempt}")
    completed = sum(status == "COMPLETED" for status in statuses.values())
    report(
        "api_crash_outbox",
        submitted=len(run_ids),
        completed=completed,
        duplicated=len(not_once),
        api_kills=chaos_profile.api_crash_rounds,
        hung_when_killed=hung,
        sent_by_sweep=len(system.sent_by_sweep(run_ids)),
        post_outcomes=",".join(sorted(set(outcomes))),
    )
    unswept = set(run_ids) - system.sent_by_sweep(run_ids)
    system.verify(
        {
            "runs that did not complete": not_completed(statuses),
            "runs no sweep reports having submitted": sorted(unswept),
            "task bodies that did not run exactly once": not_once,
        }
    )
