"""A run's custom state (``${state.key}``) and variables, over the API and through a real worker."""

from __future__ import annotations

from tests.integration.api_support import assert_error, timestamp
from tests.integration.helpers import (
    create_workflow,
    execute,
    run_events,
    run_workflow,
    steps,
    wait_for_run,
    wait_for_step,
)


def test_state_written_by_one_task_is_read_by_a_later_task(live):
    run = run_workflow(
        live,
        {
            "tasks": {
                "produce": {
                    "action": "cli.execute_command",
                    "input": {
                        "command": "echo '::state greeting=\"hello\"'; echo '::state count=3'; "
                        "echo '::state note=plain words'; echo done",
                        "shell": True,
                    },
                },
                "consume": {
                    "action": "builtin.echo",
                    "depends_on": ["produce"],
                    "input": {
                        "greeting": "${state.greeting}",
                        "count": "${state.count}",
                        "sentence": "${state.greeting} world, ${state.note}",
                    },
                    "condition": "${state.count > 2}",
                },
            }
        },
    )
    assert run["status"] == "COMPLETED", run
    consume = steps(live, run["id"])["consume"]
    assert consume["output_data"] == {
        "greeting": "hello",
        "count": 3,
        "sentence": "hello world, plain words",
    }
    state = live.get(f"/api/v1/runs/{run['id']}/state").json
    assert state["state"] == {"greeting": "hello", "count": 3, "note": "plain words"}
    timestamp(state["last_updated"])
    updates = [e for e in run_events(live, run["id"]) if e["type"] == "state_updated"]
    assert updates[0]["task_id"] == "produce"
    assert updates[0]["data"]["keys"] == ["count", "greeting", "note"]


def test_parallel_tasks_merge_their_keys_and_a_failed_task_writes_nothing(live):
    run = run_workflow(
        live,
        {
            "tasks": {
                **{
                    f"set{i}": {"action": "builtin.set_state", "input": {f"k{i}": i}}
                    for i in range(6)
                },
                "broken": {
                    "action": "cli.execute_command",
                    "input": {"command": "echo '::state poisoned=1'; exit 3", "shell": True},
                },
            }
        },
    )
    assert run["status"] == "FAILED"
    state = live.get(f"/api/v1/runs/{run['id']}/state").json["state"]
    assert state == {f"k{i}": i for i in range(6)}


def test_state_saved_over_the_api_is_read_by_the_next_task(live, tmp_path):
    go = tmp_path / "go"
    workflow = create_workflow(
        live,
        {
            "tasks": {
                "wait": {
                    "action": "cli.execute_command",
                    "input": {
                        "command": f"while [ ! -f {go} ]; do sleep 0.05; done",
                        "shell": True,
                    },
                },
                "read": {
                    "action": "builtin.echo",
                    "depends_on": ["wait"],
                    "input": {"mode": "${state.mode}", "all": "${state}"},
                },
            }
        },
    )
    run_id = execute(live, workflow["id"])
    empty = live.get(f"/api/v1/runs/{run_id}/state").json
    assert (empty["state"], empty["last_updated"]) == ({}, None)
    wait_for_step(live, run_id, "wait", {"RUNNING"})

    saved = live.put(f"/api/v1/runs/{run_id}/state", json={"state": {"mode": "fast", "n": [1]}})
    assert saved.status_code == 200, saved.json
    assert saved.json["state"] == {"mode": "fast", "n": [1]}
    assert saved.json["execution_id"] == run_id
    go.touch()
    assert wait_for_run(live, run_id)["status"] == "COMPLETED"
    assert steps(live, run_id)["read"]["output_data"] == {
        "mode": "fast",
        "all": {"mode": "fast", "n": [1]},
    }


def test_state_api_errors(live, settings):
    client = live
    assert_error(client.get("/api/v1/runs/nope/state"), 404, detail="nope")
    assert_error(client.put("/api/v1/runs/nope/state", json={"state": {}}), 404)
    run_id = run_workflow(client, {"tasks": {"a": {"action": "builtin.noop"}}})["id"]
    assert_error(client.put(f"/api/v1/runs/{run_id}/state", json={}), 422, field="state")
    assert_error(
        client.put(f"/api/v1/runs/{run_id}/state", json={"state": [1, 2]}), 422, field="state"
    )
    huge = {"blob": "x" * (settings.max_state_bytes + 1)}
    too_big = client.put(f"/api/v1/runs/{run_id}/state", json={"state": huge})
    assert_error(too_big, 413, detail="over the limit of")
    assert client.get(f"/api/v1/runs/{run_id}/state").json["state"] == {}  # nothing written


def test_a_task_whose_state_would_be_too_large_fails_clearly(live, settings):
    size = settings.max_state_bytes
    run = run_workflow(
        live,
        {
            "tasks": {
                "big": {
                    "action": "cli.execute_command",
                    "input": {
                        "command": f"python3 -c \"print('::state blob=' + 'x' * {size})\"",
                        "shell": True,
                    },
                }
            }
        },
    )
    assert run["status"] == "FAILED"
    step = steps(live, run["id"])["big"]
    assert (
        "over the limit" in step["error_message"]
        and "HARMONIA_MAX_STATE_BYTES" in (step["error_message"])
    )
    assert live.get(f"/api/v1/runs/{run['id']}/state").json["state"] == {}


def test_variables_show_run_variables_and_each_completed_step_output(live):
    workflow = create_workflow(
        live,
        {
            "steps": [
                {"id": "step1", "type": "command", "parameters": {"command": "echo Hello"}},
                {"id": "step2", "type": "command", "parameters": {"command": "false"}},
            ],
            "variables": {"var1": "value1", "var2": "value2"},
        },
    )
    response = live.post(
        f"/api/v1/workflows/{workflow['id']}/execute",
        json={"input_data": {"who": "me"}, "variables": {"var2": "override"}},
    )
    run_id = response.json["run_id"]
    assert wait_for_run(live, run_id)["status"] == "FAILED"
    variables = live.get(f"/api/v1/runs/{run_id}/variables").json
    assert variables["run_id"] == variables["execution_id"] == run_id
    assert variables["input_data"] == {"who": "me"}
    assert variables["variables"]["var1"] == "value1"
    assert variables["variables"]["var2"] == "override"
    assert variables["variables"]["step1_output"]["result"] == "Hello"
    assert "step2_output" not in variables["variables"]  # it did not complete
    assert_error(live.get("/api/v1/runs/nope/variables"), 404)


def test_restored_runs_start_from_the_checkpointed_state(live):
    run = run_workflow(
        live, {"tasks": {"s": {"action": "builtin.set_state", "input": {"phase": "one"}}}}
    )
    snap = live.post(f"/api/v1/runs/{run['id']}/checkpoints", json={}).json
    assert snap["state"] == {"phase": "one"}
    live.put(f"/api/v1/runs/{run['id']}/state", json={"state": {"phase": "later"}})
    restored = live.post(f"/api/v1/checkpoints/{snap['id']}/restore", json={}).json
    assert wait_for_run(live, restored["id"])["status"] == "COMPLETED"
    assert live.get(f"/api/v1/runs/{restored['id']}/state").json["state"] == {"phase": "one"}
