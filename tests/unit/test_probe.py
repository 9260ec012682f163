"""The bench's probe (bench/probe.py): the hot path's phase markers are one shared no-op unless a
probe listens; a listening probe gives each phase its own time and the operations issued inside
it; statements are labelled by verb and tables."""

from __future__ import annotations

import json
import os
import time
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import postgresql

from app import phases
from app.models import Run, TaskExecution
from app.models.status import TaskStatus
from app.services import progress
from app.services.state import _task_update, run_accepts_claims
from bench.probe import ROOT, Probe, sql_label


def _sql(statement) -> str:
    return str(statement.compile(dialect=postgresql.dialect()))


def test_markers_are_one_shared_no_op_when_nothing_listens():
    assert phases.phase("claim") is phases.phase("record")
    with phases.phase("claim"):
        pass


@pytest.mark.parametrize(
    ("statement", "label"),
    [
        pytest.param(
            lambda: _task_update(
                "r", "t", TaskStatus.RUNNING, [TaskStatus.PENDING], [run_accepts_claims("r", 1)], {}
            ).returning(TaskExecution.attempt),
            "UPDATE task_executions (+runs) FOR SHARE RETURNING",
            id="claim",
        ),
        pytest.param(
            lambda: progress._LOCK_COUNTING, "SELECT runs (+task_executions) FOR SHARE", id="lock"
        ),
        pytest.param(
            lambda: select(Run.status).where(Run.id == "r").with_for_update(read=True),
            "SELECT runs FOR SHARE",
            id="share-lock",
        ),
    ],
)
def test_statements_are_labelled_by_verb_and_tables(statement, label):
    assert sql_label(_sql(statement())) == label


def test_an_insert_is_labelled_by_its_table():
    assert sql_label("INSERT INTO events (run_id) VALUES (%(a)s) RETURNING events.id") == (
        "INSERT events RETURNING"
    )


def test_a_probe_splits_a_task_into_its_phases(tmp_path):
    probe = Probe(tmp_path)
    probe.pid = os.getpid()  # as if attached to a runtime: a unit test has none
    probe.out = (tmp_path / "records.jsonl").open("a")
    conn = SimpleNamespace(info={})
    phases.listen(probe.marker)
    try:
        probe.task_started(task=SimpleNamespace(name="harmonia.run_task"), args=("run-1", "t", 1))
        with phases.phase("claim and load"):
            with phases.phase("claim"):
                probe._sql_started(conn)
                probe._sql_ended(conn, None, "UPDATE task_executions SET status=%(s)s")
                time.sleep(0.01)
            probe._transaction("commit", 0.001)
        probe._redis(
            [("PUBLISH", "c", "x" * 10), ("PUBLISH", "d", "y" * 10)],
            0.001,
            time.perf_counter(),
            True,
        )
        probe.task_ended(retval="COMPLETED", state="SUCCESS")
    finally:
        phases.listen(None)
        probe.out.close()
    record = json.loads((tmp_path / "records.jsonl").read_text())
    found = record["phases"]
    assert record["run"] == "run-1" and record["state"] == "SUCCESS"
    assert list(found) == [ROOT, "claim and load", "claim and load/claim"]
    claim, outer, root = found["claim and load/claim"], found["claim and load"], found[ROOT]
    assert claim["sql"] == 1 and list(claim["ops"]) == ["UPDATE task_executions"]
    assert claim["s"] >= 0.01 > outer["s"]  # a phase's own time leaves out the phases in it
    assert outer["commit"] == 1 and outer["ops"]["COMMIT"] == [1, 0.001]
    assert (root["redis_trips"], root["redis_cmds"], root["event_bytes"]) == (1, 2, 20)
    own = sum(stats["s"] for stats in found.values())
    assert record["s"] - 0.005 < own <= record["s"]
    assert probe.marker("after the task") is probe.marker("outside any task")  # a shared no-op
