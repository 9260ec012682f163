"""Checkpoints and restore through a real worker: mid-run snapshots, restore after a failure,
restarts, automatic checkpoints, and runs that keep their own workflow version."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.integration.api_support import ADMIN, assert_error, gunicorn_api
from tests.integration.conftest import settings_env
from tests.integration.helpers import (
    create_workflow,
    execute,
    run_events,
    sleep_chain,
    steps,
    unique,
    wait_for_run,
    wait_for_step,
)
from tests.integration.test_recovery import start_worker, stop_worker


def shell(command: str, **extra) -> dict:
    return {"action": "cli.execute_command", "input": {"command": command, "shell": True}, **extra}


def gated_workflow(log: Path, go: Path, fixed: Path, **extra) -> dict:
    """a → b → gate (waits for ``go``) → c (fails until ``fixed`` exists); each appends to log."""
    return {
        "tasks": {
            "a": shell(f"echo a >> {log}", **extra),
            "b": shell(f"echo b >> {log}", depends_on=["a"], **extra),
            "gate": shell(
                f"while [ ! -f {go} ]; do sleep 0.05; done; echo gate >> {log}",
                depends_on=["b"],
                **extra,
            ),
            "c": shell(f"echo c >> {log}; test -f {fixed}", depends_on=["gate"], **extra),
        }
    }


def lines(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def checkpoint(client, run_id: str, **body) -> dict:
    response = client.post(f"/api/v1/runs/{run_id}/checkpoints", json=body)
    assert response.status_code == 201, response.json
    return response.json


def restore(client, checkpoint_id: str) -> dict:
    response = client.post(f"/api/v1/checkpoints/{checkpoint_id}/restore", json={})
    assert response.status_code == 201, response.json
    return response.json


def test_restore_after_a_failure_runs_only_what_the_checkpoint_had_not_done(live, tmp_path):
    log, go, fixed = tmp_path / "effects.log", tmp_path / "go", tmp_path / "fixed"
    workflow = create_workflow(live, gated_workflow(log, go, fixed))
    run_id = execute(live, workflow["id"])
    wait_for_step(live, run_id, "gate", {"RUNNING"})

    snap = checkpoint(live, run_id, name="before-gate", description="a and b are done")
    assert (snap["name"], snap["trigger"], snap["run_status"]) == (
        "before-gate",
        "manual",
        "RUNNING",
    )
    assert snap["completed_tasks"] == ["a", "b"]
    assert snap["task_statuses"] == {
        "a": "COMPLETED",
        "b": "COMPLETED",
        "gate": "RUNNING",
        "c": "PENDING",
    }
    assert snap["task_states"]["a"]["output"]["exit_code"] == 0

    go.touch()
    failed = wait_for_run(live, run_id)
    assert failed["status"] == "FAILED", failed
    assert lines(log) == ["a", "b", "gate", "c"]

    fixed.touch()  # the cause is fixed: restore from before the gate
    restored = restore(live, snap["id"])
    assert restored["id"] != run_id
    assert (restored["original_run_id"], restored["checkpoint_id"]) == (run_id, snap["id"])
    assert restored["workflow_definition_id"] == workflow["id"]
    run = wait_for_run(live, restored["id"])
    assert run["status"] == "COMPLETED", run

    # a and b were not executed again: their side effects happened once.
    assert sorted(lines(log)) == ["a", "b", "c", "c", "gate", "gate"]
    old, new = steps(live, run_id), steps(live, restored["id"])
    for step_id in ("a", "b"):
        assert new[step_id]["status"] == "COMPLETED"
        assert new[step_id]["attempt"] == 1
        assert new[step_id]["output_data"] == old[step_id]["output_data"]
        assert new[step_id]["started_at"] == old[step_id]["started_at"]
    assert new["c"]["status"] == "COMPLETED"
    assert "checkpoint_created" in [e["type"] for e in run_events(live, run_id)]
    restored_event = next(
        e for e in run_events(live, restored["id"]) if e["type"] == "execution_restored"
    )
    assert restored_event["data"]["restored_tasks"] == ["a", "b"]


@contextmanager
def api_server(settings, log_path: Path, queue: str) -> Iterator[httpx.Client]:
    """The API as it runs in production: gunicorn in its own processes, sending to ``queue``."""
    env = {**settings_env(settings), "HARMONIA_QUEUE": queue}
    with (
        gunicorn_api(settings, env, log_path) as address,
        httpx.Client(base_url=f"http://{address}", headers=ADMIN, timeout=10) as client,
    ):
        yield client


def http_wait(client: httpx.Client, path: str, done, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(path).json()
        if done(body):
            return body
        assert time.monotonic() < deadline, f"{path}: still {body}"
        time.sleep(0.1)


def test_a_checkpoint_survives_restarting_the_api_and_the_worker(client, settings, tmp_path):
    """The checkpoint lives in the database: a new API process and a new worker restore it."""
    queue = "restartable"  # this test's API processes and workers only: nothing else runs it
    own = settings.with_(default_queue=queue)
    log, go, fixed = tmp_path / "effects.log", tmp_path / "go", tmp_path / "fixed"
    fixed.touch()
    worker = start_worker(own, tmp_path / "worker.log")
    try:
        with api_server(settings, tmp_path / "api.log", queue) as api:
            created = api.post(
                "/api/v1/workflows", json={"name": unique("wf"), **gated_workflow(log, go, fixed)}
            )
            assert created.status_code == 201, created.json()
            started = api.post(f"/api/v1/workflows/{created.json()['id']}/execute", json={})
            run_id = started.json()["run_id"]
            http_wait(api, f"/api/v1/runs/{run_id}/steps/gate", lambda s: s["status"] == "RUNNING")
            snap = api.post(f"/api/v1/runs/{run_id}/checkpoints", json={"name": "survivor"})
            assert snap.status_code == 201, snap.json()
            snap = snap.json()
            assert api.post(f"/api/v1/runs/{run_id}/cancel", json={}).status_code == 200
            http_wait(api, f"/api/v1/runs/{run_id}", lambda r: r["status"] == "CANCELLED")
    finally:
        stop_worker(worker)

    worker = start_worker(own, tmp_path / "worker.log")  # both come back, as after a reboot
    try:
        with api_server(settings, tmp_path / "api.log", queue) as api:
            again = api.get(f"/api/v1/checkpoints/{snap['id']}")
            assert again.status_code == 200
            assert again.json()["task_states"] == snap["task_states"]
            go.touch()
            restored = api.post(f"/api/v1/checkpoints/{snap['id']}/restore", json={})
            assert restored.status_code == 201, restored.json()
            run = http_wait(
                api,
                f"/api/v1/runs/{restored.json()['id']}",
                lambda r: r["status"] in ("COMPLETED", "FAILED", "CANCELLED"),
                timeout=90,
            )
            assert run["status"] == "COMPLETED", run
    finally:
        stop_worker(worker)
    assert lines(log).count("a") == 1 and lines(log).count("b") == 1
    assert lines(log).count("c") == 1  # only the restored run got that far


def test_checkpoints_are_listed_read_filtered_and_deleted(live):
    first = execute(live, create_workflow(live, sleep_chain(1, 0))["id"])
    second = execute(live, create_workflow(live, sleep_chain(1, 0))["id"])
    wait_for_run(live, first), wait_for_run(live, second)
    made = [checkpoint(live, first, name=f"c{i}") for i in range(3)] + [checkpoint(live, second)]
    assert made[0]["run_status"] == "COMPLETED"

    everything = live.get("/api/v1/checkpoints").json
    assert (everything["total"], everything["total_pages"]) == (4, 1)
    mine = live.get(f"/api/v1/checkpoints?run_id={first}&page_size=2").json
    assert (mine["total"], mine["total_pages"], len(mine["items"])) == (3, 2, 2)
    assert [i["name"] for i in mine["items"]] == ["c2", "c1"]  # newest first
    assert "task_states" not in mine["items"][0]
    by_run = live.get(f"/api/v1/runs/{first}/checkpoints").json
    assert by_run["total"] == 3

    deleted = live.delete(f"/api/v1/checkpoints/{made[0]['id']}")
    assert deleted.status_code == 200
    assert_error(live.get(f"/api/v1/checkpoints/{made[0]['id']}"), 404, detail=made[0]["id"])
    assert live.get(f"/api/v1/checkpoints?run_id={first}").json["total"] == 2


def test_unknown_runs_and_checkpoints_are_404(client):
    assert_error(client.post("/api/v1/runs/nope/checkpoints", json={}), 404, detail="nope")
    assert_error(client.get("/api/v1/runs/nope/checkpoints"), 404)
    for call in (client.get, client.delete):
        assert_error(call("/api/v1/checkpoints/nope"), 404, detail="nope")
    assert_error(client.post("/api/v1/checkpoints/nope/restore", json={}), 404)
    bad = client.post("/api/v1/runs/nope/checkpoints", json={"name": ""})
    assert_error(bad, 422, field="name")


def test_every_checkpoint_of_a_busy_run_is_consistent(live):
    """Taken while 30 tasks finish in parallel, no checkpoint holds a task half-recorded."""
    body = {
        "tasks": {
            f"t{i}": {"action": "builtin.sleep", "input": {"seconds": 0.02 * (i % 5)}}
            for i in range(30)
        }
    }
    run_id = execute(live, create_workflow(live, body)["id"])
    taken = []
    while live.get(f"/api/v1/runs/{run_id}").json["status"] not in ("COMPLETED", "FAILED"):
        taken.append(checkpoint(live, run_id)["id"])
    taken.append(checkpoint(live, run_id)["id"])
    for checkpoint_id in taken:
        snap = live.get(f"/api/v1/checkpoints/{checkpoint_id}").json
        for task_id, task in snap["task_states"].items():
            if task["status"] == "COMPLETED":
                assert task["output"] is not None and task["completed_at"], (task_id, task)
            else:
                assert task["output"] is None, (task_id, task)
    assert len(snap["completed_tasks"]) == 30


def test_automatic_checkpoints_every_n_completed_tasks(live):
    body = {
        "tasks": {
            f"s{i}": {
                "action": "builtin.echo",
                "input": {"i": i},
                "depends_on": [f"s{i - 1}"] if i else [],
            }
            for i in range(5)
        },
        "checkpoint": {"every_n_tasks": 2},
    }
    run_id = execute(live, create_workflow(live, body)["id"])
    assert wait_for_run(live, run_id)["status"] == "COMPLETED"
    page = live.get(f"/api/v1/runs/{run_id}/checkpoints").json
    taken = sorted(page["items"], key=lambda c: len(c["completed_tasks"]))
    assert [c["trigger"] for c in taken] == ["every_n_tasks", "every_n_tasks"]
    assert [c["completed_tasks"] for c in taken] == [["s0", "s1"], ["s0", "s1", "s2", "s3"]]


def test_a_run_that_pauses_checkpoints_itself_and_resumes_from_it(live, tmp_path):
    body = {**sleep_chain(3, 0.5), "checkpoint": {"on_pause": True}}
    run_id = execute(live, create_workflow(live, body)["id"])
    wait_for_step(live, run_id, "s0", {"RUNNING"})
    assert live.post(f"/api/v1/runs/{run_id}/pause", json={}).status_code == 200
    wait_for_run(live, run_id, until={"PAUSED"})
    page = live.get(f"/api/v1/runs/{run_id}/checkpoints").json
    assert page["total"] == 1
    snap = page["items"][0]
    assert (snap["trigger"], snap["run_status"]) == ("on_pause", "PAUSED")
    assert snap["completed_tasks"] == ["s0"]

    restored = restore(live, snap["id"])
    assert wait_for_run(live, restored["id"])["status"] == "COMPLETED"
    new = steps(live, restored["id"])
    assert new["s0"]["started_at"] == steps(live, run_id)["s0"]["started_at"]
    assert live.post(f"/api/v1/runs/{run_id}/cancel", json={}).status_code == 200


def test_a_run_keeps_its_own_workflow_version_for_retry_and_restore(live, tmp_path):
    flag = tmp_path / "flag"
    v1 = create_workflow(
        live,
        {
            "tasks": {
                "first": {"action": "builtin.echo", "input": {"version": 1}},
                "check": shell(f"test -f {flag}", depends_on=["first"]),
            }
        },
    )
    run_id = execute(live, v1["id"])
    assert wait_for_run(live, run_id)["status"] == "FAILED"
    snap = checkpoint(live, run_id)

    changed = live.put(
        f"/api/v1/workflows/{v1['id']}",
        json={"tasks": {"other": {"action": "builtin.echo", "input": {"version": 2}}}},
    )
    assert changed.status_code == 200 and changed.json["version"] == 2
    flag.touch()

    retried = live.post(f"/api/v1/runs/{run_id}/retry", json={})
    assert retried.status_code == 202, retried.json
    assert wait_for_run(live, run_id)["status"] == "COMPLETED"
    assert set(steps(live, run_id)) == {"first", "check"}

    restored = restore(live, snap["id"])
    assert restored["workflow_definition_id"] == v1["id"]
    assert wait_for_run(live, restored["id"])["status"] == "COMPLETED"
    assert steps(live, restored["id"])["first"]["output_data"] == {"version": 1}


def test_concurrent_checkpoints_and_restores_do_not_interfere(live):
    run_id = execute(live, create_workflow(live, sleep_chain(2, 0))["id"])
    wait_for_run(live, run_id)
    snap = checkpoint(live, run_id)
    results: list[int] = []

    def restore_once() -> None:
        response = live.application.test_client().post(
            f"/api/v1/checkpoints/{snap['id']}/restore", json={}
        )
        results.append(response.status_code)

    threads = [threading.Thread(target=restore_once) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results == [201] * 5
    restored = live.get(f"/api/v1/runs?workflow_id={snap['workflow_id']}&page_size=10").json
    assert restored["total"] == 6
    deadline = time.monotonic() + 30
    for run in restored["items"]:
        assert wait_for_run(live, run["id"], timeout=deadline - time.monotonic())["status"] == (
            "COMPLETED"
        )
