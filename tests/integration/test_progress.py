"""Live progress from a real worker: streamed command output, progress reports, their bounds.

Events are read from the database the worker writes them to, so the tests see exactly what the
WebSocket/SSE endpoints replay to late clients.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select

from app.models import Event, TaskExecution
from app.services.leases import pid_alive
from tests.integration.helpers import create_workflow, execute, run_workflow, wait_for_run
from worker.actions import ActionContext, shell, streams
from worker.actions.progress import ProgressThrottle, Report, parse_progress_line


def events(rt, run_id: str, type_: str | None = None) -> list[Event]:
    with rt.db.session() as session:
        query = select(Event).where(Event.run_id == run_id)
        if type_ is not None:
            query = query.where(Event.type == type_)
        return list(session.execute(query.order_by(Event.id)).scalars())


def step_row(rt, run_id: str, task_id: str) -> TaskExecution:
    with rt.db.session() as session:
        return session.execute(
            select(TaskExecution).where(
                TaskExecution.run_id == run_id, TaskExecution.task_id == task_id
            )
        ).scalar_one()


def step_detail(client, run_id: str, step_id: str) -> dict[str, Any]:
    """One step with its stdout and stderr (the steps list leaves them out)."""
    response = client.get(f"/api/v1/runs/{run_id}/steps/{step_id}")
    assert response.status_code == 200, response.json
    return response.json


def command_task(command: str, **extra: Any) -> dict[str, Any]:
    return {"action": "cli.execute_command", "input": {"command": command, "shell": True, **extra}}


def streamed_lines(found: list[Event], stream: str = "stdout") -> list[str]:
    return [line for e in found if e.data["stream"] == stream for line in e.data["lines"]]


# -- through a real worker ------------------------------------------------------------------------


def test_command_output_streams_while_the_step_runs(live, rt):
    workflow = create_workflow(
        live, {"tasks": {"lines": command_task("for i in 1 2 3; do echo line $i; sleep 0.3; done")}}
    )
    run_id = execute(live, workflow["id"])
    deadline = time.monotonic() + 20
    while not (seen := events(rt, run_id, "step_output")):
        assert time.monotonic() < deadline, "no step_output event while the command ran"
        time.sleep(0.02)
    assert seen[0].data["lines"] == ["line 1"]
    assert step_row(rt, run_id, "lines").status == "RUNNING"  # seen live, not replayed at the end

    assert wait_for_run(live, run_id)["status"] == "COMPLETED"
    found = events(rt, run_id)
    types = [e.type for e in found]
    outputs = [e for e in found if e.type == "step_output"]
    assert types.index("task_completed") > max(i for i, t in enumerate(types) if t == "step_output")
    assert streamed_lines(outputs) == ["line 1", "line 2", "line 3"]
    first = outputs[0]
    assert first.data["stream"] == "stdout" and first.data["line_number"] == 1
    assert first.data["line"] == "line 1" and first.task_id == "lines"
    completed_at = step_row(rt, run_id, "lines").completed_at
    assert (completed_at - first.created_at).total_seconds() >= 0.3
    assert step_detail(live, run_id, "lines")["stdout"] == "line 1\nline 2\nline 3\n"


def test_progress_lines_report_progress_and_stay_in_stdout(live, rt):
    command = "echo start; echo '::progress 50% half'; echo '::progress nope'; echo done"
    run = run_workflow(live, {"tasks": {"half": command_task(command)}})
    assert run["status"] == "COMPLETED", run
    progress = events(rt, run["run_id"], "task_progress")
    assert [e.data["progress"] for e in progress] == [0.5]
    assert progress[0].data["message"] == "half" and progress[0].data["percent"] == 50.0
    assert progress[0].message == "Task 'half': 50% — half"
    stdout = step_detail(live, run["run_id"], "half")["stdout"]
    assert stdout == "start\n::progress 50% half\n::progress nope\ndone\n"


def test_a_long_sleep_reports_progress_every_second(live, rt):
    run = run_workflow(
        live, {"tasks": {"nap": {"action": "builtin.sleep", "input": {"seconds": 2.5}}}}
    )
    assert run["status"] == "COMPLETED", run
    found = events(rt, run["run_id"])
    progress = [e for e in found if e.type == "task_progress"]
    assert len(progress) >= 2
    fractions = [e.data["progress"] for e in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert progress[-1].data["message"] == "slept 2.5 of 2.5 s"
    assert [e.type for e in found].index("task_completed") > found.index(progress[-1])

    quick = run_workflow(
        live, {"tasks": {"blink": {"action": "builtin.sleep", "input": {"seconds": 0.2}}}}
    )
    assert events(rt, quick["run_id"], "task_progress") == []


def test_a_flood_of_output_keeps_stdout_whole_and_events_bounded(live, rt):
    run = run_workflow(live, {"tasks": {"flood": command_task("seq 1 20000")}})
    assert run["status"] == "COMPLETED", run
    step = step_detail(live, run["run_id"], "flood")
    expected = [str(i) for i in range(1, 20001)]
    assert step["stdout"].splitlines() == expected
    assert step["output_data"]["stdout"] == step["stdout"]
    outputs = events(rt, run["run_id"], "step_output")
    assert 1 <= len(outputs) <= 200
    assert streamed_lines(outputs) == expected  # within the limits, nothing is lost
    numbers = [e.data["line_number"] for e in outputs]
    sizes = [len(e.data["lines"]) for e in outputs]
    assert numbers == [1 + sum(sizes[:i]) for i in range(len(outputs))]


def test_cancel_kills_a_streaming_command(live, rt, tmp_path):
    pid_file = tmp_path / "loop.pid"
    command = f"echo $$ > {pid_file}; while true; do echo tick; sleep 0.05; done"
    workflow = create_workflow(live, {"tasks": {"loop": command_task(command, timeout=120)}})
    run_id = execute(live, workflow["id"])
    deadline = time.monotonic() + 20
    while not events(rt, run_id, "step_output"):
        assert time.monotonic() < deadline, "the command never printed"
        time.sleep(0.05)
    pid = int(pid_file.read_text())
    assert pid_alive(pid)

    started = time.monotonic()
    response = live.post(f"/api/v1/runs/{run_id}/cancel", json={"reason": "enough"})
    assert response.status_code == 200, response.json
    run = wait_for_run(live, run_id, timeout=5)
    assert run["status"] == "CANCELLED"
    assert time.monotonic() - started < 5
    assert not pid_alive(pid), "the cancelled command is still running"
    loop = step_detail(live, run_id, "loop")
    assert loop["status"] == "CANCELLED" and loop["stdout"].startswith("tick\n")


# -- the pieces, in-process -----------------------------------------------------------------------


def recording_context(timeout: float = 30) -> tuple[ActionContext, list[tuple[str, dict, str]]]:
    emitted: list[tuple[str, dict, str]] = []
    ctx = ActionContext(
        run_id="r",
        task_id="t",
        timeout=timeout,
        task_name="demo",
        emit=lambda type_, data, message: emitted.append((type_, data, message)),
    )
    return ctx, emitted


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("::progress 0.5 halfway", Report(0.5, "halfway")),
        ("::progress 40% copying files", Report(0.4, "copying files")),
        ("::progress 75", Report(0.75, None)),
        ("::progress 1", Report(1.0, None)),
        ("::progress 250%", Report(1.0, None)),
        ("::progress -3", Report(0.0, None)),
        ("::progress half", None),
        ("::progressive 0.5", None),
        ("  ::progress 0.5", None),
    ],
    ids=lambda value: repr(value),
)
def test_progress_line_convention(line, expected):
    assert parse_progress_line(line) == expected


def test_throttle_keeps_the_first_the_finish_and_the_latest():
    now = [0.0]
    throttle = ProgressThrottle(interval=0.1, clock=lambda: now[0])
    assert throttle.offer(Report(0.1, None)) == Report(0.1, None)  # the first
    assert throttle.offer(Report(0.2, None)) is None  # too soon: held back
    assert throttle.offer(Report(0.3, None)) is None
    assert throttle.take_pending() is None
    now[0] = 0.15
    assert throttle.take_pending() == Report(0.3, None)  # the latest, once its turn comes
    assert throttle.offer(Report(1.0, "done")) == Report(1.0, "done")  # reaching 1.0: at once
    assert throttle.offer(Report(1.0, "done")) is None  # a repeat is not news
    assert throttle.offer(Report(1.0, "again")) is None
    assert throttle.take_pending(force=True) == Report(1.0, "again")


def test_report_progress_clamps_and_rates_at_most_ten_a_second():
    ctx, emitted = recording_context()
    started = time.monotonic()
    for i in range(2001):
        ctx.report_progress(i / 1000, f"step {i}")
    ctx.flush_progress(final=True)
    elapsed = time.monotonic() - started
    assert len(emitted) <= 3 + elapsed * 10
    type_, data, message = emitted[-1]
    assert type_ == "task_progress"
    assert data == {"progress": 1.0, "percent": 100.0, "message": "step 2000", "task_name": "demo"}
    assert message == "Task 'demo': 100% — step 2000"  # the latest report is never lost
    assert [d["message"] for _, d, _ in emitted].count("step 1000") == 1  # 1.0 reached: at once


def test_live_output_stops_at_the_event_cap(monkeypatch):
    monkeypatch.setattr(streams, "MAX_EVENTS", 5)
    monkeypatch.setattr(streams, "EVENT_LINES", 10)
    ctx, emitted = recording_context()
    command = "seq 1 1000; echo '::progress 0.9 late'"
    result = shell.execute_command({"command": command, "shell": True}, ctx)
    ctx.flush_progress(final=True)
    assert result["stdout"] == "".join(f"{i}\n" for i in range(1, 1001)) + "::progress 0.9 late\n"
    outputs = [data for type_, data, _ in emitted if type_ == "step_output"]
    assert len(outputs) == 5
    assert outputs[-1]["truncated"] is True and outputs[-1]["lines"] == []
    lines = [line for data in outputs for line in data["lines"]]
    assert 4 <= len(lines) <= 40 and lines == [str(i) for i in range(1, len(lines) + 1)]
    progress = [data["progress"] for type_, data, _ in emitted if type_ == "task_progress"]
    assert progress == [0.9]  # progress lines still count once live output has stopped
