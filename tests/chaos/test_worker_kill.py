"""worker_kill: Celery pool processes die with SIGKILL while they run task bodies.

What should happen (README "Crash recovery"): the worker's main process sees its child die and
re-queues the message (``acks_late`` + ``reject_on_worker_lost``); the next delivery finds the
task RUNNING with a dead owner, re-claims it and runs it once more. Every run still completes,
and no task body runs again once its completion is recorded.
"""

from __future__ import annotations

import random
import time

import pytest

from tests.chaos.effects import audit, mixed_shapes
from tests.chaos.system import not_completed


@pytest.mark.timeout(300)
def test_worker_kill(make_system, report, chaos_profile):
    system = make_system()
    shapes = mixed_shapes(system.effects, seconds=(0.2, 0.5))
    workflows = [
        system.api.create_workflow(f"kill-{name}", tasks) for name, tasks in shapes.items()
    ]
    run_ids = [
        system.api.execute(workflows[i % len(workflows)])
        for i in range(chaos_profile.worker_kill_runs)
    ]

    rng = random.Random(7)
    killed = []
    for _ in range(chaos_profile.worker_kills):
        time.sleep(rng.uniform(1.0, 2.0))
        killed.append(system.kill_busy_pool_child())

    statuses = system.wait_terminal(run_ids, timeout=180)
    found = audit(system, run_ids)
    completed = sum(status == "COMPLETED" for status in statuses.values())
    report(
        "worker_kill",
        submitted=len(run_ids),
        completed=completed,
        duplicated=len(found.duplicated),
        kills=len(killed),
        **system.recoveries(run_ids),
        rerun_after_crash=len(found.rerun_after_crash),
    )
    api_disagrees = []
    for run_id in run_ids:  # the API tells the same story as the database
        run, steps = system.api.run(run_id), system.api.steps(run_id)
        if run["status"] != "COMPLETED" or any(s["status"] != "COMPLETED" for s in steps):
            shown = [(s["step_id"], s["status"]) for s in steps]
            api_disagrees.append(f"{run_id}: {run['status']} with steps {shown}")
    system.verify(
        {
            "runs that did not complete": not_completed(statuses),
            "runs the API does not show completed": api_disagrees,
            "task bodies run after their completion was recorded": found.duplicated,
        }
    )
