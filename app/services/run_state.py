"""A run's custom state (seed 000 "Save/Load State").

A JSON object per run, read by tasks as ``${state.key}``. The API replaces it whole
(``PUT /api/v1/runs/{id}/state``); a task merges the keys it sets into it, in the same transaction
that records the task as completed, so a failed attempt writes nothing. Its size is capped by
``HARMONIA_MAX_STATE_BYTES``.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.models import RunState
from app.models.base import utcnow
from app.services.errors import PayloadTooLarge, StateNotFound
from app.services.runs import get_run
from app.services.state import Work
from app.services.transactions import transactional


def state_size(state: dict[str, Any]) -> int:
    return len(json.dumps(state, separators=(",", ":"), default=str).encode())


def over_limit(state: dict[str, Any], limit: int) -> str | None:
    """Why ``state`` may not be stored, or None when it fits."""
    size = state_size(state)
    if size <= limit:
        return None
    return f"run state would be {size} bytes, over the limit of {limit} (HARMONIA_MAX_STATE_BYTES)"


def read_state(session: Session, run_id: str) -> dict[str, Any]:
    return (
        session.execute(select(RunState.data).where(RunState.run_id == run_id)).scalar_one_or_none()
        or {}
    )


@transactional
def get_run_state(session: Session, run_id: str, *, saved_only: bool = False) -> dict[str, Any]:
    """The run's state; ``saved_only`` refuses (``StateNotFound``) a state never written."""
    get_run(session, run_id)
    row = session.get(RunState, run_id)
    if saved_only and (row is None or row.updated_at is None):
        raise StateNotFound(run_id)
    return _render(run_id, row)


def save_run_state(rt, run_id: str, state: dict[str, Any]) -> dict[str, Any]:
    """Replace the run's state (any run status: it is the user's data)."""
    problem = over_limit(state, rt.settings.max_state_bytes)
    if problem:
        raise PayloadTooLarge(problem[0].upper() + problem[1:])
    with Work(rt) as work:
        get_run(work.session, run_id)
        row = _locked(work.session, run_id)
        _write(row, state, "api")
        work.emit(
            run_id,
            "state_updated",
            data={"keys": sorted(state), "source": "api"},
            message="Run state saved",
        )
    return _render(run_id, row)


def merge_state(
    work: Work, run_id: str, updates: dict[str, Any], *, limit: int, task_id: str
) -> str | None:
    """Merge a task's keys into the run's state under a row lock (parallel tasks serialise).

    Returns why nothing was written when the merged state would exceed ``limit``.
    """
    row = _locked(work.session, run_id)
    merged = {**(row.data or {}), **updates}
    problem = over_limit(merged, limit)
    if problem:
        return problem
    _write(row, merged, f"task:{task_id}")
    work.emit(
        run_id,
        "state_updated",
        task_id=task_id,
        data={"keys": sorted(updates), "source": f"task:{task_id}"},
        message=f"Task '{task_id}' set state: {', '.join(sorted(updates))}",
    )
    return None


def _locked(session: Session, run_id: str) -> RunState:
    if session.get_bind().dialect.name == "sqlite":
        # SQLite ignores FOR UPDATE and its driver reads outside the transaction until the first
        # write: write first, so the read below happens under the database's write lock.
        session.execute(
            update(RunState)
            .where(RunState.run_id == run_id)
            .values(updated_at=RunState.updated_at)
            .execution_options(synchronize_session=False)
        )
    row = session.execute(
        select(RunState).where(RunState.run_id == run_id).with_for_update()
    ).scalar_one_or_none()
    if row is None:  # every run gets its row when it is created; this covers the rest
        row = RunState(run_id=run_id, data={})
        session.add(row)
        session.flush()
    return row


def _write(row: RunState, state: dict[str, Any], by: str) -> None:
    row.data = dict(state)  # a new object: the JSON column sees the change
    row.updated_at = utcnow()
    row.updated_by = by


def _render(run_id: str, row: RunState | None) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "execution_id": run_id,
        "state": (row.data if row else None) or {},
        "last_updated": row.updated_at if row else None,
    }
