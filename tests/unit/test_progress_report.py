"""Progress reports' pure parts: the remaining critical path, blockers replayed from a run's
events, milestones, and where ``progress_updated`` goes among a unit's events."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from app.engine.dialects import normalise
from app.engine.progress import (
    Durations,
    TaskFact,
    blockers,
    milestones,
    remaining_seconds,
    waiting_on_agents,
)
from app.services.progress import changed_runs, counts_after

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def dag_of(doc):
    dag, problems = normalise(doc)
    assert not problems, problems
    return dag


def chain(count: int):
    return dag_of(
        {
            "tasks": {
                f"s{i}": {"action": "builtin.sleep", "depends_on": [f"s{i - 1}"] if i else []}
                for i in range(count)
            }
        }
    )


# A diamond with a slow branch: a → (b: 10 s, c: 1 s) → d, plus a synchronization point after b, c.
SEED_003 = {
    "tasks": [
        {"name": "A", "action": "builtin.noop"},
        {"name": "B", "action": "builtin.noop", "dependencies": ["task-1"]},
        {"name": "C", "action": "builtin.noop", "dependencies": ["task-1"]},
        {"name": "D", "action": "builtin.noop", "dependencies": ["task-2", "task-3"]},
    ],
    "synchronizationPoints": [
        {"name": "Middle", "description": "B and C done", "requiredTasks": ["task-2", "task-3"]},
        {"name": "End", "requiredTasks": ["task-4"]},
    ],
}


def done(task_id: str, start: float, end: float, status: str = "COMPLETED") -> TaskFact:
    return TaskFact(task_id, status, at(start), at(end), f"te-{task_id}")


def running(task_id: str, start: float) -> TaskFact:
    return TaskFact(task_id, "RUNNING", at(start), None, f"te-{task_id}")


# --- the remaining critical path ---------------------------------------------------------------


def test_a_chain_of_equal_tasks_has_a_steady_eta_and_shrinking_remaining_time():
    dag = chain(3)
    # s0 took 2 s; s1 just started: s1's 2 s then s2's 2 s are left.
    first = {"s0": done("s0", 0, 2), "s1": running("s1", 2)}
    left_1 = remaining_seconds(dag, first, Durations([2.0]), now=at(2))
    assert left_1 == pytest.approx(4.0)
    # Half a second into s1 the ETA has not moved.
    assert remaining_seconds(dag, first, Durations([2.0]), now=at(2.5)) == pytest.approx(3.5)
    # s1 took 2 s as well: only s2 is left, and the ETA is the same instant.
    second = {**first, "s1": done("s1", 2, 4), "s2": running("s2", 4)}
    left_2 = remaining_seconds(dag, second, Durations([2.0, 2.0]), now=at(4))
    assert left_2 == pytest.approx(2.0)
    assert at(4) + timedelta(seconds=left_2) == at(2) + timedelta(seconds=left_1)
    finished = {**second, "s2": done("s2", 4, 6)}
    assert remaining_seconds(dag, finished, Durations([2.0] * 3), now=at(6)) == 0.0


def test_the_longest_branch_decides_and_synchronization_points_take_no_time():
    dag = dag_of(SEED_003)
    durations = Durations([], history={"task-1": [1.0], "task-2": [10.0], "task-3": [1.0]})
    # task-4 has no history of its own: the mean of everything recent (4 s).
    assert durations.expected("task-4") == pytest.approx(4.0)
    assert remaining_seconds(dag, {}, durations, now=T0) == pytest.approx(1 + 10 + 4)
    # task-2 (the slow branch) is done: the fast branch is now the critical one.
    tasks = {"task-1": done("task-1", 0, 1), "task-2": done("task-2", 1, 11)}
    assert remaining_seconds(dag, tasks, durations, now=at(11)) == pytest.approx(1 + 4)


def test_a_running_task_counts_what_is_left_of_it_and_never_less_than_nothing():
    dag = chain(2)
    tasks = {"s0": running("s0", 0)}
    assert remaining_seconds(dag, tasks, Durations([], {"s0": [5.0], "s1": [5.0]}), at(3)) == 7
    # Overdue: it may finish any moment, then s1 runs.
    assert remaining_seconds(dag, tasks, Durations([], {"s0": [5.0], "s1": [5.0]}), at(9)) == 5


def test_the_current_run_beats_the_pooled_history_and_the_floor_comes_last():
    assert Durations([1.0, 3.0], {"x": [10.0]}).expected("y") == 2.0
    assert Durations([1.0, 3.0], {"x": [10.0]}).expected("x") == 10.0
    assert Durations([], {}, floor=4.0).expected("y") == 4.0
    # Nothing has finished anywhere and nothing runs: there is nothing to estimate from.
    assert remaining_seconds(chain(2), {}, Durations([]), now=T0) is None


def test_tasks_after_a_failure_will_not_run_and_count_for_nothing():
    dag = dag_of(
        {
            "tasks": {
                "a": {"action": "builtin.noop"},
                "b": {"action": "builtin.noop", "depends_on": ["a"]},
                "c": {"action": "builtin.noop", "depends_on": ["b"]},
                "side": {"action": "builtin.noop"},
            }
        }
    )
    tasks = {"a": done("a", 0, 1, status="FAILED"), "side": running("side", 0.5)}
    # b and c will be skipped: only what is left of the independent branch counts.
    assert remaining_seconds(dag, tasks, Durations([3.0]), now=at(1)) == pytest.approx(2.5)


# --- blockers ----------------------------------------------------------------------------------


def event(id_: int, type_: str, second: float, task_id: str | None = None, **data):
    return SimpleNamespace(id=id_, type=type_, task_id=task_id, created_at=at(second), data=data)


TASKS = {"b": TaskFact("b", "COMPLETED", execution_id="te-b")}


def test_a_failed_task_is_a_blocker_until_a_retry_completes_it():
    events = [
        event(1, "task_failed", 1, "b", error="exit 1"),
        event(2, "execution_failed", 1.1),
        event(3, "execution_resumed", 5, reason="retry"),
        event(4, "task_failed", 6, "b", error="exit 2"),  # still the same blocker
        event(5, "task_completed", 9, "b"),
    ]
    [blocker] = blockers(events[:2], TASKS, {"b": "Load"})
    assert (blocker.id, blocker.kind, blocker.task_execution_id) == ("1", "task_failed", "te-b")
    assert blocker.description == "Task 'Load' failed: exit 1"
    assert blocker.created_at == at(1) and blocker.resolved_at is None
    [blocker] = blockers(events, TASKS, {"b": "Load"})
    assert blocker.id == "1" and blocker.created_at == at(1) and blocker.resolved_at == at(9)
    assert blocker.description == "Task 'Load' failed: exit 2"


def test_a_retrying_task_blocks_until_it_completes_or_fails_for_good():
    events = [
        event(1, "task_retrying", 1, "b", attempt=1, error="boom"),
        event(2, "task_retrying", 3, "b", attempt=2, error="boom"),
        event(3, "task_failed", 7, "b", error="boom"),
    ]
    retrying, failed = blockers(events, TASKS)
    assert (retrying.kind, retrying.created_at, retrying.resolved_at) == (
        "task_retrying",
        at(1),
        at(7),
    )
    assert "attempt 2" in retrying.description
    assert (failed.kind, failed.id, failed.resolved_at) == ("task_failed", "3", None)
    [cleared] = blockers([events[0], event(4, "task_completed", 4, "b")], TASKS)
    assert cleared.resolved_at == at(4)


def test_a_pause_blocks_until_resume_and_history_is_kept():
    events = [
        event(1, "execution_paused", 2, reason="maintenance"),
        event(2, "execution_resumed", 4, reason="resume"),
        event(3, "execution_paused", 6),
        event(4, "execution_cancelled", 8),
    ]
    first, second = blockers(events, TASKS)
    assert (first.id, first.description, first.created_at, first.resolved_at) == (
        "1",
        "Run paused: maintenance",
        at(2),
        at(4),
    )
    assert (second.description, second.resolved_at) == ("Run paused", at(8))
    assert first.task_execution_id is None


def test_a_task_whose_agent_is_not_active_waits_on_it():
    dag = dag_of(
        {
            "tasks": {
                "ask": {"agent_name": "oracle"},
                "gone": {"agent_name": "ghost", "depends_on": ["ask"]},
                "local": {"action": "builtin.noop"},
            }
        }
    )
    tasks = {
        "ask": TaskFact("ask", "PENDING", execution_id="te-ask"),
        "gone": TaskFact("gone", "PENDING", execution_id="te-gone"),
        "local": TaskFact("local", "PENDING", execution_id="te-local"),
    }
    found = waiting_on_agents(dag, tasks, {"oracle": ("inactive", at(3))}, since=at(0))
    assert [(b.task_id, b.created_at, b.kind) for b in found] == [
        ("ask", at(3), "agent_unavailable"),
        ("gone", at(0), "agent_unavailable"),
    ]
    assert "'oracle', which is inactive" in found[0].description
    assert waiting_on_agents(dag, tasks, {"oracle": ("active", at(3))}, at(0))[0].task_id == "gone"
    finished = {tid: TaskFact(tid, "COMPLETED") for tid in tasks}
    assert waiting_on_agents(dag, finished, {}, at(0)) == []


# --- milestones --------------------------------------------------------------------------------


def test_milestones_are_initialization_each_synchronization_point_and_completion():
    dag = dag_of(SEED_003)
    assert dag.synchronization_points == {"sync-1", "sync-2"}
    tasks = {"sync-1": done("sync-1", 5, 6), "sync-2": TaskFact("sync-2", "PENDING")}
    found = milestones(
        dag,
        tasks,
        started_at=at(0),
        completed_at=None,
        completed=False,
        descriptions={"sync-1": "B and C done"},
    )
    assert [(m.id, m.name, m.achieved, m.achieved_at) for m in found] == [
        ("initialization", "Initialization", True, at(0)),
        ("sync-1", "Middle", True, at(6)),
        ("sync-2", "End", False, None),
        ("completion", "Completion", False, None),
    ]
    assert found[1].description == "B and C done"
    assert found[2].description == "Tasks task-4 completed"
    finished = milestones(
        dag, {}, started_at=None, completed_at=at(9), completed=True, descriptions={}
    )
    assert (finished[0].achieved, finished[-1].achieved, finished[-1].achieved_at) == (
        False,
        True,
        at(9),
    )


# --- progress_updated's place ------------------------------------------------------------------


def test_progress_updated_goes_before_a_runs_final_event_and_only_for_changes():
    def events(*pairs):
        return [SimpleNamespace(run_id=run, type=kind) for run, kind in pairs]

    assert changed_runs(events(("r", "task_started"), ("r", "step_output"))) == {}
    assert changed_runs(events(("r", "execution_started"), ("r", "task_started"))) == {"r": 2}
    completing = events(("r", "execution_completed"), ("r", "workflow_completed"))
    assert changed_runs(completing) == {"r": 0}
    mixed = events(("r", "task_completed"), ("q", "task_failed"), ("r", "execution_failed"))
    assert changed_runs(mixed) == {"r": 2, "q": 3}
    assert changed_runs(events((None, "task_completed"))) == {}


def test_a_tasks_outcome_moves_the_counts_unless_it_is_a_synchronization_point():
    dag = dag_of(SEED_003)
    assert counts_after(dag, 1, "task-2", "COMPLETED") == {"completed_tasks": 2, "total_tasks": 4}
    assert counts_after(dag, 1, "task-2", "SKIPPED")["completed_tasks"] == 2
    assert counts_after(dag, 1, "task-2", "FAILED")["completed_tasks"] == 1
    assert counts_after(dag, 1, "sync-1", "COMPLETED")["completed_tasks"] == 1
