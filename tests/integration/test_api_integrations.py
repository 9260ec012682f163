"""``/api/v1/integrations``: the built-in catalogue, and capabilities invoked directly on a worker.

The catalogue is checked against ``app.engine.catalogue`` itself (one source of truth: the schemas
served are the ones that validate task inputs). Invocations run on the real worker process.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest
from sqlalchemy import select

from app.engine.catalogue import INTEGRATIONS
from app.models import Invocation
from app.runtime import Runtime
from tests.integration.api_support import (
    admin_app,
    assert_error,
    problems,
    reference_agent,
    register_agent,
    timestamp,
)
from worker.invocation import run_invocation

BASE = "/api/v1/integrations"
INVOCATION_KEYS = {
    "id",
    "invocation_id",
    "integration_id",
    "capability_id",
    "agent_name",
    "status",
    "parameters",
    "output",
    "error",
    "created_at",
    "started_at",
    "completed_at",
    "duration_ms",
}


def invoke(client, integration: str, capability: str, **body) -> dict:
    response = client.post(f"{BASE}/{integration}/capabilities/{capability}", json=body)
    assert response.status_code == 202, response.json
    assert response.headers["Location"].endswith(f"/invocations/{response.json['id']}")
    return response.json


def wait_for_invocation(client, invocation_id: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"{BASE}/invocations/{invocation_id}")
        assert response.status_code == 200, response.json
        if response.json["status"] in ("COMPLETED", "FAILED"):
            return response.json
        assert time.monotonic() < deadline, f"invocation still {response.json['status']}"
        time.sleep(0.05)


def invocations(client, **query) -> dict:
    response = client.get(f"{BASE}/invocations", query_string=query)
    assert response.status_code == 200, response.json
    return response.json


# -- the catalogue ------------------------------------------------------------------------------


def test_list_serves_every_catalogue_integration_with_its_capability_ids(client):
    response = client.get(BASE)
    assert response.status_code == 200
    page = response.json
    assert (page["page"], page["page_size"], page["total"]) == (1, 20, len(INTEGRATIONS))
    assert page["total_pages"] == 1
    listed = {item["id"]: item for item in page["items"]}
    assert {"cli", "api", "agent", "builtin"} <= set(listed)
    assert set(listed) == set(INTEGRATIONS)  # whatever the catalogue holds, e.g. mcp
    for integration_id, item in listed.items():
        expected = INTEGRATIONS[integration_id]
        assert item == {
            "id": integration_id,
            "name": expected.name,
            "description": expected.description,
            "type": integration_id,
            "status": "available",
            "capabilities": list(expected.capabilities),
        }
    assert listed["cli"]["capabilities"] == ["execute_command", "execute_script"]
    assert listed["api"]["capabilities"] == ["http_get", "http_post", "http_put", "http_delete"]
    assert "echo" in listed["builtin"]["capabilities"]


def test_list_filters_by_type_and_status_and_paginates(client):
    only_cli = client.get(BASE, query_string={"type": "cli"}).json
    assert [i["id"] for i in only_cli["items"]] == ["cli"] and only_cli["total"] == 1
    assert client.get(BASE, query_string={"type": "nothing"}).json["total"] == 0
    available = client.get(BASE, query_string={"status": "available"}).json
    assert available["total"] == len(INTEGRATIONS)
    pages = [client.get(BASE, query_string={"page_size": 2, "page": n}).json for n in (1, 2, 3)]
    assert [p["total_pages"] for p in pages] == [(len(INTEGRATIONS) + 1) // 2] * 3
    seen = [item["id"] for p in pages for item in p["items"]]
    assert seen == list(INTEGRATIONS)[:6]
    assert_error(client.get(BASE, query_string={"page_size": 0}), 422, field="page_size")
    assert_error(client.get(BASE, query_string={"status": "broken"}), 422, field="status")


def test_get_integration_has_each_capability_schema_from_the_catalogue(client):
    response = client.get(f"{BASE}/cli")
    assert response.status_code == 200
    body = response.json
    assert (body["id"], body["name"], body["status"]) == ("cli", "Command Line", "available")
    assert body["capabilities"] == ["execute_command", "execute_script"]
    assert body["parameters"] == {
        cid: cap.schema for cid, cap in INTEGRATIONS["cli"].capabilities.items()
    }


@pytest.mark.parametrize("integration_id", sorted(INTEGRATIONS))
def test_capability_parameters_are_the_catalogue_schemas(client, integration_id):
    response = client.get(f"{BASE}/{integration_id}/capabilities")
    assert response.status_code == 200
    assert response.json["integration_id"] == integration_id
    catalogue = INTEGRATIONS[integration_id].capabilities
    served = response.json["capabilities"]
    assert [c["id"] for c in served] == list(catalogue)
    for capability in served:
        expected = catalogue[capability["id"]]
        assert capability == {
            "id": expected.id,
            "name": expected.name,
            "description": expected.description,
            "parameters": expected.schema,
            "required": expected.required,
        }
        one = client.get(f"{BASE}/{integration_id}/capabilities/{expected.id}")
        assert one.status_code == 200 and one.json == capability


def test_execute_command_requires_command(client):
    capability = client.get(f"{BASE}/cli/capabilities/execute_command").json
    assert capability["required"] == ["command"]
    assert capability["parameters"]["additionalProperties"] is False


@pytest.mark.parametrize(
    ("method", "path", "named"),
    [
        ("get", "/nope", "nope"),
        ("get", "/nope/capabilities", "nope"),
        ("get", "/nope/capabilities/echo", "nope"),
        ("post", "/nope/capabilities/echo", "nope"),
        ("get", "/builtin/capabilities/nope", "nope"),
        ("post", "/builtin/capabilities/nope", "nope"),
        ("get", "/invocations/00000000-0000-0000-0000-000000000000", "00000000-0000"),
    ],
    ids=[
        "integration",
        "integration-capabilities",
        "integration-of-capability",
        "invoke-unknown-integration",
        "capability",
        "invoke-unknown-capability",
        "invocation",
    ],
)
def test_unknown_names_are_404s_that_name_them(client, method, path, named):
    kwargs = {"json": {"parameters": {}}} if method == "post" else {}
    body = assert_error(getattr(client, method)(BASE + path, **kwargs), 404)
    assert f"'{named}" in body["detail"]
    assert invocations(client)["total"] == 0


def test_invocations_is_not_taken_for_an_integration_id(client):
    page = invocations(client)
    assert page == {"items": [], "total": 0, "page": 1, "page_size": 20, "total_pages": 0}


# -- invoking -----------------------------------------------------------------------------------


def test_echo_is_accepted_then_completes_with_its_parameters(live):
    accepted = invoke(live, "builtin", "echo", parameters={"greeting": "hello", "n": [1, 2]})
    assert set(accepted) == INVOCATION_KEYS
    assert accepted["invocation_id"] == accepted["id"]
    assert (accepted["integration_id"], accepted["capability_id"]) == ("builtin", "echo")
    assert accepted["status"] == "PENDING"
    assert accepted["parameters"] == {"greeting": "hello", "n": [1, 2]}
    assert accepted["output"] is None and accepted["completed_at"] is None
    done = wait_for_invocation(live, accepted["id"])
    assert done["status"] == "COMPLETED", done
    assert done["output"] == {"greeting": "hello", "n": [1, 2]}
    assert done["error"] is None
    created, started, completed = (
        timestamp(done[k]) for k in ("created_at", "started_at", "completed_at")
    )
    assert created <= started <= completed
    assert isinstance(done["duration_ms"], int) and done["duration_ms"] >= 0


def test_input_is_an_alias_of_parameters(live):
    accepted = invoke(live, "builtin", "echo", input={"via": "input"})
    assert accepted["parameters"] == {"via": "input"}
    assert wait_for_invocation(live, accepted["id"])["output"] == {"via": "input"}


def test_fail_is_failed_with_its_message(live):
    accepted = invoke(live, "builtin", "fail", parameters={"message": "broken on purpose"})
    done = wait_for_invocation(live, accepted["id"])
    assert done["status"] == "FAILED"
    assert done["error"] == "broken on purpose"
    assert done["output"] is None and done["completed_at"] is not None


def test_execute_command_runs_on_the_worker(live):
    accepted = invoke(live, "cli", "execute_command", parameters={"command": "echo hi"})
    done = wait_for_invocation(live, accepted["id"])
    assert done["status"] == "COMPLETED", done
    assert done["output"]["result"] == "hi"
    assert done["output"]["exit_code"] == 0


def test_a_failing_command_keeps_its_output(live):
    command = ["sh", "-c", "echo partial; echo oops >&2; exit 3"]
    accepted = invoke(live, "cli", "execute_command", parameters={"command": command})
    done = wait_for_invocation(live, accepted["id"])
    assert done["status"] == "FAILED"
    assert done["error"] == "command exited with code 3: oops"
    assert done["output"]["exit_code"] == 3 and done["output"]["stdout"] == "partial\n"


def test_a_command_past_its_timeout_is_killed_and_failed(live):
    parameters = {"command": "sleep 30", "timeout": 0.5}
    done = wait_for_invocation(
        live, invoke(live, "cli", "execute_command", parameters=parameters)["id"]
    )
    assert done["status"] == "FAILED"
    assert "timed out after 0.5s" in done["error"]
    assert done["duration_ms"] < 10_000


# -- what is refused (and never written) ------------------------------------------------------


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({}, {"parameters.command": "is required"}),
        ({"command": 42}, {"parameters.command": "is not valid under any of the given schemas"}),
        ({"command": "ls", "colour": "red"}, {"parameters.colour": "unknown parameter"}),
        (
            {"timeout": "soon", "colour": "red", "shell": "yes"},
            {
                "parameters.command": "is required",
                "parameters.timeout": "'soon' is not of type 'number'",
                "parameters.colour": "unknown parameter (expected one of: command, env, shell, "
                "timeout, working_directory)",
                "parameters.shell": "'yes' is not of type 'boolean'",
            },
        ),
        ({"command": "ls", "timeout": 0}, {"parameters.timeout": "less than or equal to"}),
    ],
    ids=["missing", "wrong-type", "unknown-key", "every-problem-at-once", "out-of-range"],
)
def test_bad_parameters_are_400s_naming_each_field(client, parameters, expected):
    response = client.post(
        f"{BASE}/cli/capabilities/execute_command", json={"parameters": parameters}
    )
    body = assert_error(response, 400, detail="Invalid parameters for cli.execute_command")
    found = problems(response)
    assert set(found) == set(expected), body
    for field, message in expected.items():
        assert message in found[field], (field, found[field])
    assert invocations(client)["total"] == 0


def test_the_alias_names_the_fields_it_was_given_under(client):
    response = client.post(f"{BASE}/builtin/capabilities/sleep", json={"input": {"seconds": -1}})
    assert_error(response, 400, field="input.seconds")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"parameters": ["echo", "hi"]}, "parameters"),
        ({"parameters": "echo hi"}, "parameters"),
        ({"parameters": {"command": "a"}, "input": {"command": "b"}}, "input"),
    ],
    ids=["list", "string", "both-names"],
)
def test_parameters_must_be_one_object(client, body, field):
    response = client.post(f"{BASE}/cli/capabilities/execute_command", json=body)
    assert_error(response, 400, field=field)
    assert invocations(client)["total"] == 0


def test_an_unknown_body_field_is_a_422(client):
    response = client.post(f"{BASE}/builtin/capabilities/echo", json={"params": {}})
    assert_error(response, 422, field="params")


def test_set_state_only_runs_inside_a_run(client):
    response = client.post(f"{BASE}/builtin/capabilities/set_state", json={"parameters": {"a": 1}})
    assert_error(response, 400, field="capability_id", detail="only run as a task of a run")
    assert invocations(client)["total"] == 0


@pytest.fixture
def shell_off_client(settings, clean):
    """A second API on the same database and broker, with HARMONIA_ENABLE_SHELL=false."""
    app = admin_app(settings.with_(enable_shell=False))
    try:
        yield app.test_client()
    finally:
        app.extensions["harmonia"].close()


def test_with_shell_disabled_commands_are_refused_and_cli_is_disabled(shell_off_client, client):
    response = shell_off_client.post(
        f"{BASE}/cli/capabilities/execute_command", json={"parameters": {"command": "echo hi"}}
    )
    assert_error(response, 400, field="integration_id", detail="HARMONIA_ENABLE_SHELL=false")
    listed = {i["id"]: i["status"] for i in shell_off_client.get(BASE).json["items"]}
    assert listed["cli"] == "disabled"
    assert {s for i, s in listed.items() if i != "cli"} == {"available"}
    disabled = shell_off_client.get(BASE, query_string={"status": "disabled"}).json["items"]
    assert [i["id"] for i in disabled] == ["cli"]
    assert shell_off_client.get(f"{BASE}/cli").json["status"] == "disabled"
    if "mcp" in INTEGRATIONS:  # an MCP server started as a command is a command too
        stdio = {"server": {"command": "/bin/sh"}, "tool": "x"}
        refused = shell_off_client.post(
            f"{BASE}/mcp/capabilities/call_tool", json={"parameters": stdio}
        )
        assert_error(refused, 400, field="parameters.server.command")
    assert invocations(client)["total"] == 0


# -- agents -------------------------------------------------------------------------------------


def test_agent_call_names_the_agent_and_uses_its_credentials(live):
    with reference_agent("Echoer", "--skill", "echo", "--token", "t0ken") as url:
        register_agent(live, "echoer", url, auth_type="bearer", auth_config={"token": "t0ken"})
        accepted = invoke(live, "agent", "call", agent_name="echoer", parameters={"value": 42})
        assert accepted["agent_name"] == "echoer"
        done = wait_for_invocation(live, accepted["id"])
    assert done["status"] == "COMPLETED", done
    assert done["output"] == {"value": 42}


@pytest.mark.parametrize(
    ("integration", "capability", "body", "message"),
    [
        ("agent", "call", {"parameters": {}}, "is required"),
        ("agent", "call", {"agent_name": "ghost"}, "Agent 'ghost' not found or inactive"),
        ("builtin", "echo", {"agent_name": "echoer"}, "only agent.call takes an agent_name"),
    ],
    ids=["agent-call-without-agent", "unknown-agent", "agent-for-another-capability"],
)
def test_agent_name_is_checked(client, integration, capability, body, message):
    response = client.post(f"{BASE}/{integration}/capabilities/{capability}", json=body)
    assert_error(response, 400, field="agent_name")
    assert message in problems(response)["agent_name"]


def test_an_inactive_agent_cannot_be_called(client):
    register_agent(client, "sleepy", "http://127.0.0.1:9")
    agent_id = client.get("/api/v1/agents", query_string={"name": "sleepy"}).json["items"][0]["id"]
    assert client.put(f"/api/v1/agents/{agent_id}", json={"status": "inactive"}).status_code == 200
    response = client.post(f"{BASE}/agent/capabilities/call", json={"agent_name": "sleepy"})
    assert_error(response, 400, field="agent_name")


# -- listing ------------------------------------------------------------------------------------


def test_invocations_are_listed_newest_first_filtered_and_paginated(live):
    ids = [invoke(live, "builtin", "echo", parameters={"n": n})["id"] for n in range(3)]
    ids.append(invoke(live, "builtin", "fail", parameters={"message": "no"})["id"])
    ids.append(invoke(live, "cli", "execute_command", parameters={"command": "true"})["id"])
    for invocation_id in ids:
        wait_for_invocation(live, invocation_id)
    everything = invocations(live, page_size=100)
    assert everything["total"] == 5
    assert [i["id"] for i in everything["items"]] == list(reversed(ids))
    assert set(everything["items"][0]) == INVOCATION_KEYS
    builtin = invocations(live, integration_id="builtin", page_size=2)
    assert (builtin["total"], builtin["total_pages"], len(builtin["items"])) == (4, 2, 2)
    second = invocations(live, integration_id="builtin", page_size=2, page=2)
    assert [i["id"] for i in builtin["items"] + second["items"]] == list(reversed(ids[:4]))
    failed = invocations(live, status="FAILED")
    assert [i["id"] for i in failed["items"]] == [ids[3]]
    echoes = invocations(live, integration_id="builtin", capability_id="echo")
    assert echoes["total"] == 3
    assert invocations(live, integration_id="api")["total"] == 0
    assert invocations(live, page=9)["items"] == []
    assert_error(
        live.get(f"{BASE}/invocations", query_string={"status": "DONE"}), 422, field="status"
    )


# -- the worker side: at most once, failure is data -------------------------------------------


def test_a_redelivered_message_never_runs_the_invocation_twice(live, rt, tmp_path):
    marker = tmp_path / "ran"
    parameters = {"command": f"echo once >> {marker}", "shell": True}
    accepted = invoke(live, "cli", "execute_command", parameters=parameters)
    done = wait_for_invocation(live, accepted["id"])
    assert done["status"] == "COMPLETED", done
    # What a redelivery does, synchronously here so the test can tell it ran nothing.
    assert run_invocation(rt, accepted["id"]) == "COMPLETED"
    assert marker.read_text() == "once\n"
    assert live.get(f"{BASE}/invocations/{accepted['id']}").json == done


def _insert(rt, **fields) -> str:
    with rt.db.transaction() as session:
        row = Invocation(**{"integration_id": "builtin", "capability_id": "echo", **fields})
        session.add(row)
        session.flush()
        return row.id


def test_an_invocation_whose_worker_died_is_failed_not_rerun(client, rt):
    gone = subprocess.Popen(["true"])
    gone.wait()
    owner = f"{socket.gethostname()}:{gone.pid}"
    invocation_id = _insert(rt, status="RUNNING", worker=owner)
    assert run_invocation(rt, invocation_id) == "FAILED"
    row = client.get(f"{BASE}/invocations/{invocation_id}").json
    assert row["status"] == "FAILED"
    assert f"the worker running this invocation was lost ({owner})" in row["error"]


def test_a_running_invocation_on_a_live_worker_is_left_alone(client, rt):
    invocation_id = _insert(rt, status="RUNNING", worker=f"{socket.gethostname()}:{os.getpid()}")
    assert run_invocation(rt, invocation_id) == "RUNNING"
    assert client.get(f"{BASE}/invocations/{invocation_id}").json["status"] == "RUNNING"


def test_an_output_over_the_limit_fails_the_invocation(client, settings):
    small = Runtime.build(settings.with_(max_output_bytes=64))
    try:
        invocation_id = _insert(small, status="PENDING", parameters={"text": "x" * 100})
        assert run_invocation(small, invocation_id) == "FAILED"
        with small.db.transaction() as session:
            row = session.execute(
                select(Invocation).where(Invocation.id == invocation_id)
            ).scalar_one()
        assert row.output is None
        assert row.error is not None and "over the limit of 64" in row.error
    finally:
        small.close()
