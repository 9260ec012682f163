"""Agents run workflow steps over A2A: the reference agent as a real process on loopback, both
protocol versions, seed 002's walkthroughs, retries, timeouts, cancellation and credentials."""

from __future__ import annotations

import time

import httpx

from app.cli import free_port
from tests.integration.api_support import reference_agent, register_agent
from tests.integration.helpers import execute, run_events, steps, wait_for_run, wait_for_step


def one_step(client, agent_name: str, mapping: dict | None = None) -> dict:
    """A seed 002 workflow with one agent step."""
    body = {
        "name": f"call-{agent_name}-{time.monotonic_ns()}",
        "start_step": "call",
        "steps": {
            "call": {
                "id": "call",
                "agent_name": agent_name,
                "next_step": None,
                "input_mapping": mapping or {"value": "${workflow.input.value}"},
            }
        },
    }
    response = client.post("/api/v1/workflows", json=body)
    assert response.status_code == 201, response.json
    return response.json


def run_one_step(client, agent_name: str, value=1, mapping=None, timeout: float = 60) -> dict:
    workflow = one_step(client, agent_name, mapping)
    run_id = execute(client, workflow["id"], {"value": value})
    return wait_for_run(client, run_id, timeout=timeout)


def calls(url: str, method_suffix: str = "") -> list[dict]:
    seen = httpx.get(f"{url}/_calls").json()["calls"]
    return [c for c in seen if c["method"].lower().endswith(method_suffix.lower())]


def test_seed_002_workflow_1_runs_across_two_agents(live):
    # One agent speaks A2A 1.0, the other only 0.3 with its card at the older well-known path.
    with (
        reference_agent("DataExtractorAgent", "--skill", "extract", "--protocol", "1.0") as ex,
        reference_agent(
            "DataTransformerAgent", "--skill", "transform", "--protocol", "0.3", "--legacy-card"
        ) as tr,
    ):
        register_agent(live, "DataExtractorAgent", ex, description="Extracts data")
        register_agent(live, "DataTransformerAgent", tr, description="Transforms raw data")
        created = live.post(
            "/api/v1/workflows",
            json={
                "name": "data-pipeline",
                "description": "ETL pipeline",
                "start_step": "extract",
                "steps": {
                    "extract": {
                        "id": "extract",
                        "agent_name": "DataExtractorAgent",
                        "next_step": "transform",
                        "input_mapping": {"source": "${workflow.input.source}"},
                    },
                    "transform": {
                        "id": "transform",
                        "agent_name": "DataTransformerAgent",
                        "next_step": None,
                        "input_mapping": {"data": "${extract.output.data}"},
                    },
                },
            },
        )
        assert created.status_code == 201, created.json
        run_id = execute(live, created.json["id"], {"source": "https://api.example.com/data"})
        run = wait_for_run(live, run_id)
        assert run["status"] == "COMPLETED", run
        run_steps = steps(live, run_id)
        extracted = run_steps["extract"]["output_data"]["data"]
        assert extracted["source"] == "https://api.example.com/data"
        assert [r["name"] for r in extracted["records"]] == ["record-1", "record-2", "record-3"]
        transformed = run_steps["transform"]["output_data"]
        assert transformed["record_count"] == 3
        assert [r["name"] for r in transformed["data"]["records"]] == [
            "RECORD-1",
            "RECORD-2",
            "RECORD-3",
        ]
        assert run_steps["transform"]["input_data"] == {"data": extracted}
        assert calls(ex, "SendMessage") and calls(tr, "message/send")


def test_seed_002_workflow_5_reports_one_healthy_and_one_stopped_agent(live):
    with reference_agent("Alive", "--skill", "echo") as url:
        alive = register_agent(live, "Alive", url)
        stopped = register_agent(
            live, "Stopped", f"http://127.0.0.1:{free_port()}", timeout_ms=2000
        )
        active = live.get("/api/v1/agents?status=active").json["items"]
        health = {a["name"]: live.get(f"/api/v1/agents/{a['id']}/health").json for a in active}
    assert set(health) == {"Alive", "Stopped"}
    assert health["Alive"]["healthy"] is True and health["Alive"]["status_code"] == 200
    assert 0 < health["Alive"]["response_time_ms"] < 2000
    assert health["Alive"]["error"] is None
    down = health["Stopped"]
    assert (down["healthy"], down["status_code"], down["response_time_ms"]) == (False, None, None)
    assert down["error"].startswith("Connection failed")
    assert alive["id"] != stopped["id"]


def test_a_failing_agent_is_retried_with_the_documented_spacing(live):
    retry = {
        "max_retries": 3,
        "initial_delay_ms": 300,
        "backoff_multiplier": 2.0,
        "max_delay_ms": 1000,
    }
    with reference_agent("Flaky", "--skill", "echo", "--fail-first", "2") as url:
        register_agent(live, "Flaky", url, retry_config=retry)
        run = run_one_step(live, "Flaky", value=7)
        sends = calls(url, "SendMessage")
    assert run["status"] == "COMPLETED", run
    assert steps(live, run["id"])["call"]["output_data"] == {"value": 7}
    assert len(sends) == 3  # two failures, then the answer
    gaps = [b["at"] - a["at"] for a, b in zip(sends, sends[1:], strict=False)]
    # initial_delay_ms, then × backoff_multiplier; each gap also holds one discovery round trip.
    assert 0.3 <= gaps[0] < 0.3 + 0.4, gaps
    assert 0.6 <= gaps[1] < 0.6 + 0.4, gaps
    stderr = live.get(f"/api/v1/runs/{run['id']}/steps/call").json["stderr"]
    assert "attempt 1 failed: HTTP 503; retrying in 0.3s" in stderr
    assert "attempt 2 failed: HTTP 503; retrying in 0.6s" in stderr


def test_retry_delays_are_capped_and_retries_run_out(live):
    retry = {
        "max_retries": 2,
        "initial_delay_ms": 400,
        "backoff_multiplier": 3.0,
        "max_delay_ms": 1000,
    }
    with reference_agent("Down", "--skill", "echo", "--fail-first", "99") as url:
        register_agent(live, "Down", url, retry_config=retry)
        run = run_one_step(live, "Down")
        sends = calls(url, "SendMessage")
    assert run["status"] == "FAILED"
    step = live.get(f"/api/v1/runs/{run['id']}/steps/call").json
    assert step["error_message"] == "agent 'Down' failed after 3 attempt(s): HTTP 503"
    assert "retrying in 0.4s" in step["stderr"] and "retrying in 1s" in step["stderr"]
    gaps = [b["at"] - a["at"] for a, b in zip(sends, sends[1:], strict=False)]
    assert len(sends) == 3
    assert 0.4 <= gaps[0] < 0.8 and 1.0 <= gaps[1] < 1.4, gaps  # 400 ms, then 1200 capped to 1000


def test_an_agent_slower_than_timeout_ms_fails_the_step_clearly(live):
    no_retry = {"max_retries": 0}
    with reference_agent("Sluggish", "--skill", "echo", "--delay-ms", "4000") as url:
        register_agent(live, "Sluggish", url, timeout_ms=1000, retry_config=no_retry)
        started = time.monotonic()
        run = run_one_step(live, "Sluggish")
        elapsed = time.monotonic() - started
    assert run["status"] == "FAILED"
    step = live.get(f"/api/v1/runs/{run['id']}/steps/call").json
    assert step["error_message"] == (
        "agent 'Sluggish' failed after 1 attempt(s): no answer within 1000 ms (timeout_ms)"
    )
    assert elapsed < 4


def test_a_task_that_outlives_timeout_ms_is_cancelled_at_the_agent(live):
    with reference_agent("Worker", "--skill", "slow", "--slow", "30") as url:
        register_agent(live, "Worker", url, timeout_ms=1000, retry_config={"max_retries": 0})
        run = run_one_step(live, "Worker")
        cancels = calls(url, "CancelTask")
    assert run["status"] == "FAILED"
    step = live.get(f"/api/v1/runs/{run['id']}/steps/call").json
    assert "no final answer within 1000 ms (timeout_ms)" in step["error_message"]
    assert len(cancels) == 1


def test_cancelling_the_run_cancels_the_agents_task(live):
    with reference_agent("LongHaul", "--skill", "slow", "--slow", "60") as url:
        register_agent(live, "LongHaul", url, timeout_ms=120000)
        workflow = one_step(live, "LongHaul")
        run_id = execute(live, workflow["id"], {"value": 1})
        wait_for_step(live, run_id, "call", {"RUNNING"})
        deadline = time.monotonic() + 20
        while not calls(url, "GetTask"):  # the agent's task is being polled
            assert time.monotonic() < deadline
            time.sleep(0.05)
        started = time.monotonic()
        cancelled = live.post(f"/api/v1/runs/{run_id}/cancel", json={"reason": "stop"})
        assert cancelled.status_code == 200
        run = wait_for_run(live, run_id, timeout=10)
        assert run["status"] == "CANCELLED" and time.monotonic() - started < 5
        assert len(calls(url, "CancelTask")) == 1
    assert steps(live, run_id)["call"]["status"] == "CANCELLED"


def test_the_agents_own_verdicts_fail_the_step_without_retries(live):
    with (
        reference_agent("Grumpy", "--skill", "fail") as fail_url,
        reference_agent("Curious", "--skill", "ask", "--protocol", "0.3") as ask_url,
    ):
        register_agent(live, "Grumpy", fail_url)
        register_agent(live, "Curious", ask_url)
        failed = run_one_step(live, "Grumpy")
        asked = run_one_step(live, "Curious")
        assert len(calls(fail_url, "SendMessage")) == 1  # a verdict is not retried
    failed_step = live.get(f"/api/v1/runs/{failed['id']}/steps/call").json
    assert failed_step["error_message"] == (
        "agent 'Grumpy' task failed: the reference agent failed on purpose"
    )
    asked_step = live.get(f"/api/v1/runs/{asked['id']}/steps/call").json
    assert asked_step["error_message"].startswith(
        "agent 'Curious' needs more input (input-required)"
    )
    assert "which table should I read?" in asked_step["error_message"]


def test_credentials_are_sent_and_never_shown(live):
    token, key = "tok-7f3a9c1e", "key-52be0d44"
    with (
        reference_agent("Guarded", "--token", token) as bearer_url,
        reference_agent("Keyed", "--api-key", key, "--protocol", "0.3") as key_url,
        reference_agent("Locked", "--token", "something-else") as locked_url,
    ):
        register_agent(
            live, "Guarded", bearer_url, auth_type="bearer", auth_config={"token": token}
        )
        created = register_agent(
            live, "Keyed", key_url, auth_type="apikey", auth_config={"key": key}
        )
        register_agent(live, "Locked", locked_url, auth_type="bearer", auth_config={"token": token})
        ok = run_one_step(live, "Guarded", value="a")
        keyed = run_one_step(live, "Keyed", value="b")
        refused = run_one_step(live, "Locked")
    assert ok["status"] == "COMPLETED" and keyed["status"] == "COMPLETED"
    assert refused["status"] == "FAILED"
    refused_step = live.get(f"/api/v1/runs/{refused['id']}/steps/call").json
    assert refused_step["error_message"] == "agent answered HTTP 401"
    shown = [
        live.get(f"/api/v1/agents/{created['id']}").get_data(as_text=True),
        live.get("/api/v1/agents").get_data(as_text=True),
    ]
    for run in (ok, keyed, refused):
        shown.append(live.get(f"/api/v1/runs/{run['id']}/logs").get_data(as_text=True))
        shown.append(live.get(f"/api/v1/runs/{run['id']}/steps").get_data(as_text=True))
        shown.append(str(run_events(live, run["id"])))
    for text in shown:
        assert token not in text and key not in text


def test_a_component_naming_an_agent_and_text_answers(live):
    with reference_agent("Narrator", "--skill", "text") as url:
        register_agent(live, "Narrator", url)
        created = live.post(
            "/api/v1/workflows",
            json={
                "name": "seed-000-style",
                "tasks": {
                    "tell": {
                        "component": "Narrator",
                        "action": "tell",
                        "input": {"topic": "${workflow.input.topic}"},
                    }
                },
            },
        )
        assert created.status_code == 201, created.json
        run = wait_for_run(live, execute(live, created.json["id"], {"topic": "rivers"}))
    assert run["status"] == "COMPLETED", run
    assert steps(live, run["id"])["tell"]["output_data"] == {"text": "plain words from the agent"}
