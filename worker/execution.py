"""The task wrapper protocol (DESIGN §4): what every ``harmonia.run_task`` message does.

Fence by generation → control check → upstream check → atomic claim → resolve → run with timeout
→ retry with backoff or persist → publish. A task never raises to Celery (failure is data), so
chords always reach their body and ``finalize_run`` decides the run's status.

Each step lives with its concern: ``claiming`` (control, upstream, claim, input context),
``harness`` (the action), ``outcome`` (persist and publish). The ``phase`` markers name the
steps for the bench's probe (``app/phases.py``); without it they are a shared no-op.
"""

from __future__ import annotations

from app.models import RunStatus, TaskStatus
from app.phases import phase
from app.services import checkpoints
from app.services.control import settle_run
from worker import claiming, harness, outcome
from worker.protocol import CANCEL, Claimed, Retry, Stop
from worker.runtime import while_database_down

R, T = RunStatus, TaskStatus
__all__ = ["Retry", "Stop", "execute_task"]


def execute_task(rt, run_id: str, task_id: str, generation: int, retries: int) -> str:
    try:
        with phase("claim and load"):
            claimed = while_database_down(
                rt,
                f"claiming task {task_id} of run {run_id}",
                lambda: claiming.claim(rt, run_id, task_id, generation, retries),
            )
        if isinstance(claimed, str):
            return claimed
        return _run_claimed(rt, run_id, claimed, retries)
    except Stop as stop:
        if stop.reason == "settle":
            settle_run(rt, run_id)  # a paused or cancelled run may now have nothing running
        raise


def _run_claimed(rt, run_id: str, claimed: Claimed, retries: int) -> str:
    task, attempt = claimed.task, claimed.attempt
    ended, done = harness.run(rt, run_id, claimed, retries)
    # The action has run: its outcome must be kept through a database outage.
    with phase("record"):
        result, run_status = while_database_down(
            rt,
            f"recording task {task.id} of run {run_id}",
            lambda: outcome.record(rt, run_id, claimed.dag, task, ended, attempt, retries, done),
        )
    if result == T.COMPLETED.value and claimed.checkpoint_every:
        while_database_down(
            rt,
            f"checkpointing run {run_id}",
            lambda: checkpoints.after_task_completed(rt, run_id, claimed.checkpoint_every),
        )
    if run_status in (R.PAUSING.value, *CANCEL):
        while_database_down(rt, f"settling run {run_id}", lambda: settle_run(rt, run_id))
    if ended == T.RETRYING:
        raise Retry(task.retry.countdown(retries))
    if ended == T.CANCELLED:
        raise Stop("cancelled")
    return result
