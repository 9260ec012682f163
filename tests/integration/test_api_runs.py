"""Run monitoring through a real worker (seed 002), HTTP actions, health and API docs."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta, timezone

import httpx
import pytest

from app import VERSION
from tests.integration.api_support import ADMIN, assert_error, http_server, timestamp
from tests.integration.helpers import create_workflow, execute, steps, unique, wait_for_run

RUN_KEYS = {
    "id",
    "run_id",
    "workflow_id",
    "workflow_name",
    "workflow_definition_id",
    "status",
    "input_data",
    "triggered_by",
    "created_at",
    "updated_at",
    "completed_at",
    "cancelled_at",
    "cancelled_by",
    "error_message",
}
STEP_KEYS = {
    "id",
    "run_id",
    "step_id",
    "step_name",
    "agent_name",
    "status",
    "input_data",
    "output_data",
    "started_at",
    "completed_at",
    "error_message",
}


def chain(*ids: str, command: str | None = None) -> dict:
    """A seed-002 chain; the first step runs ``command`` (if given), each later one echoes the
    previous step's output and a workflow input."""
    definition: dict = {"start_step": ids[0], "steps": {}}
    for index, sid in enumerate(ids):
        nxt = ids[index + 1] if index + 1 < len(ids) else None
        if index == 0 and command:
            spec = {
                "component": "ergon",
                "action": "execute_command",
                "input_mapping": {"command": command, "shell": True},
            }
        elif index == 0:
            spec = {
                "component": "builtin",
                "action": "echo",
                "input_mapping": {"item": "${workflow.input.item}"},
            }
        else:
            spec = {
                "component": "builtin",
                "action": "echo",
                "input_mapping": {
                    "previous": f"${{{ids[index - 1]}.output}}",
                    "item": "${workflow.input.item}",
                },
            }
        definition["steps"][sid] = {"id": sid, "next_step": nxt, **spec}
    return definition


def runs(client, **query) -> list[str]:
    response = client.get("/api/v1/runs", query_string=query)
    assert response.status_code == 200, response.json
    return [item["run_id"] for item in response.json["items"]]


def completed_run(client, workflow_id: str, input_data=None) -> dict:
    return wait_for_run(client, execute(client, workflow_id, input_data))


# -- a run and its steps --------------------------------------------------------------------------


def test_execute_then_get_run_has_seed_002_fields(live):
    workflow = create_workflow(live, {"name": "etl", **chain("extract", "load")})
    accepted = live.post(
        f"/api/v1/workflows/{workflow['id']}/execute",
        json={"input_data": {"item": "x"}, "triggered_by": "alice"},
    )
    assert accepted.status_code == 202, accepted.json
    assert set(accepted.json) >= RUN_KEYS
    assert accepted.json["status"] == "PENDING" and accepted.json["completed_at"] is None
    run = wait_for_run(live, accepted.json["run_id"])
    assert set(run) >= RUN_KEYS
    assert run["id"] == run["run_id"] == accepted.json["run_id"]
    assert run["status"] == "COMPLETED", run
    assert (run["workflow_name"], run["workflow_id"], run["workflow_definition_id"]) == (
        "etl",
        workflow["workflow_id"],
        workflow["id"],
    )
    assert run["triggered_by"] == "alice"
    assert run["input_data"] == {"item": "x"}
    assert run["error_message"] is None and run["cancelled_at"] is None
    assert run["cancelled_by"] is None
    assert timestamp(run["created_at"]) <= timestamp(run["completed_at"])
    assert timestamp(run["completed_at"]) <= timestamp(run["updated_at"])


def test_steps_are_ordered_by_start_with_resolved_input_and_output(live):
    workflow = create_workflow(live, chain("first", "second", "third"))
    run = completed_run(live, workflow["id"], {"item": 7})
    response = live.get(f"/api/v1/runs/{run['run_id']}/steps")
    assert response.status_code == 200
    listed = response.json
    assert [s["step_id"] for s in listed] == ["first", "second", "third"]
    starts = [timestamp(s["started_at"]) for s in listed]
    assert starts == sorted(starts)
    for step in listed:
        assert set(step) >= STEP_KEYS
        assert step["run_id"] == run["run_id"] and step["step_name"] == step["step_id"]
        assert step["status"] == "COMPLETED" and step["error_message"] is None
        assert timestamp(step["started_at"]) <= timestamp(step["completed_at"])
    # input_data is the resolved input: references replaced by the values they pointed at.
    assert listed[0]["input_data"] == {"item": 7}
    assert listed[1]["input_data"] == {"previous": {"item": 7}, "item": 7}
    assert listed[2]["output_data"] == {"previous": {"previous": {"item": 7}, "item": 7}, "item": 7}


def test_step_detail_has_stdout_and_stderr(live):
    workflow = create_workflow(
        live, chain("shell", "after", command="echo out-line; echo err-line >&2")
    )
    run = completed_run(live, workflow["id"], {"item": 1})
    response = live.get(f"/api/v1/runs/{run['run_id']}/steps/shell")
    assert response.status_code == 200, response.json
    detail = response.json
    assert (detail["step_id"], detail["status"]) == ("shell", "COMPLETED")
    assert detail["stdout"] == "out-line\n" and detail["stderr"] == "err-line\n"
    assert detail["output_data"]["exit_code"] == 0
    assert_error(live.get(f"/api/v1/runs/{run['run_id']}/steps/ghost"), 404, detail="ghost")


def test_logs_mix_engine_lines_and_step_output_in_time_order(live):
    workflow = create_workflow(live, chain("shell", "after", command="echo hello; echo world"))
    run = completed_run(live, workflow["id"], {"item": 1})
    response = live.get(f"/api/v1/runs/{run['run_id']}/logs")
    assert response.status_code == 200
    logs = response.json
    assert (logs["run_id"], logs["status"]) == (run["run_id"], "COMPLETED")
    lines = logs["lines"]
    stamps = [timestamp(line["timestamp"]) for line in lines]
    assert stamps == sorted(stamps)
    engine = [line for line in lines if line["source"] == "engine"]
    assert engine and all(line["stream"] == "event" for line in engine)
    assert "started" in engine[0]["message"] and "completed" in engine[-1]["message"]
    output = [
        (line["step_id"], line["message"])
        for line in lines
        if (line["source"], line["stream"]) == ("step", "stdout")
    ]
    assert output == [("shell", "hello"), ("shell", "world")]
    assert {line["step_id"] for line in engine} >= {None, "shell", "after"}

    only = live.get(f"/api/v1/runs/{run['run_id']}/logs?step_id=after").json["lines"]
    assert only and {line["step_id"] for line in only} == {"after"}
    assert_error(live.get(f"/api/v1/runs/{run['run_id']}/logs?step_id=ghost"), 404, detail="ghost")


# -- listing runs ---------------------------------------------------------------------------------


@pytest.fixture
def three_runs(live):
    """ok (COMPLETED) and bad (FAILED) on workflow W, then other (COMPLETED) on workflow V."""
    w = create_workflow(
        live,
        {
            "tasks": {
                "t": {"action": "builtin.echo", "input": {"fail": "${workflow.input.fail}"}},
                "check": {
                    "action": "builtin.fail",
                    "depends_on": ["t"],
                    "condition": "${workflow.input.fail}",
                },
            }
        },
    )
    v = create_workflow(live, {"tasks": {"t": {"action": "builtin.noop"}}})
    ok = completed_run(live, w["id"], {"fail": False})
    bad = completed_run(live, w["id"], {"fail": True})
    other = completed_run(live, v["id"])
    assert [r["status"] for r in (ok, bad, other)] == ["COMPLETED", "FAILED", "COMPLETED"]
    return {"w": w, "v": v, "ok": ok, "bad": bad, "other": other}


def test_list_runs_filters(live, three_runs):
    r = three_runs
    ok, bad, other = r["ok"]["run_id"], r["bad"]["run_id"], r["other"]["run_id"]
    assert runs(live) == [other, bad, ok]  # default: newest first
    assert runs(live, status="FAILED") == [bad]
    assert runs(live, status="COMPLETED") == [other, ok]
    assert runs(live, status="RUNNING") == []
    assert runs(live, workflow_id=r["w"]["workflow_id"]) == [bad, ok]
    assert runs(live, workflow_definition_id=r["v"]["id"]) == [other]
    assert runs(live, workflow_id=r["w"]["workflow_id"], status="COMPLETED") == [ok]


def test_list_runs_filters_by_creation_time_in_any_zone(live, three_runs):
    ok, bad, other = (three_runs[k] for k in ("ok", "bad", "other"))
    after_ok = timestamp(ok["created_at"])
    before_other = timestamp(other["created_at"])
    assert runs(live, created_after=after_ok.isoformat()) == [other["run_id"], bad["run_id"]]
    assert runs(live, created_before=before_other.isoformat()) == [bad["run_id"], ok["run_id"]]
    # The same instants written in another zone select the same runs.
    plus_two = timezone(timedelta(hours=2))
    assert runs(
        live,
        created_after=after_ok.astimezone(plus_two).isoformat(),
        created_before=before_other.astimezone(plus_two).isoformat(),
    ) == [bad["run_id"]]
    zulu = before_other.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert runs(live, created_before=zulu) == [bad["run_id"], ok["run_id"]]
    later = (timestamp(other["created_at"]) + timedelta(hours=1)).isoformat()
    assert runs(live, created_after=later) == []


@pytest.mark.parametrize(
    ("sort_by", "order", "expected"),
    [
        ("completed_at", "asc", ["ok", "bad", "other"]),
        ("completed_at", "desc", ["other", "bad", "ok"]),
        ("created_at", "asc", ["ok", "bad", "other"]),
        ("status", "asc", ["COMPLETED", "COMPLETED", "FAILED"]),
        ("status", "desc", ["FAILED", "COMPLETED", "COMPLETED"]),
    ],
    ids=["completed_asc", "completed_desc", "created_asc", "status_asc", "status_desc"],
)
def test_list_runs_sorts(live, three_runs, sort_by, order, expected):
    response = live.get("/api/v1/runs", query_string={"sort_by": sort_by, "sort_order": order})
    items = response.json["items"]
    if sort_by == "status":
        assert [item["status"] for item in items] == expected
    else:
        names = {three_runs[k]["run_id"]: k for k in ("ok", "bad", "other")}
        assert [names[item["run_id"]] for item in items] == expected


def test_list_runs_paginates(live, three_runs):
    page = live.get("/api/v1/runs?page=2&page_size=2").json
    assert (page["total"], page["total_pages"], page["page"], page["page_size"]) == (3, 2, 2, 2)
    assert [item["run_id"] for item in page["items"]] == [three_runs["ok"]["run_id"]]


# -- HTTP actions against a real server -----------------------------------------------------------


@pytest.fixture
def api_server():
    with http_server(
        {
            "/rows": (200, {"rows": [1, 2, 3], "source": "test"}),
            "/plain": (200, "just text"),
            "/echo": (201, "ECHO"),
            "/broken": (500, {"error": "database on fire"}),
        }
    ) as server:
        yield server


def test_http_get_and_post_actions(live, api_server):
    workflow = create_workflow(
        live,
        {
            "tasks": {
                "fetch": {
                    "action": "api.http_get",
                    "input": {"url": f"{api_server.url}/rows", "params": {"limit": "3"}},
                },
                "plain": {"action": "api.http_get", "input": {"url": f"{api_server.url}/plain"}},
                "send": {
                    "action": "api.http_post",
                    "depends_on": ["fetch"],
                    "input": {
                        "url": f"{api_server.url}/echo",
                        "json": {"count": "${tasks.fetch.output.body.rows}"},
                    },
                },
            }
        },
    )
    run = completed_run(live, workflow["id"])
    assert run["status"] == "COMPLETED", run
    by_id = steps(live, run["run_id"])
    fetched = by_id["fetch"]["output_data"]
    assert (fetched["status_code"], fetched["ok"]) == (200, True)
    assert fetched["body"] == {"rows": [1, 2, 3], "source": "test"}  # JSON parsed, not text
    assert by_id["plain"]["output_data"]["body"] == "just text"
    sent = by_id["send"]["output_data"]
    assert sent["status_code"] == 201
    assert sent["body"] == {"method": "POST", "received": {"count": [1, 2, 3]}}
    paths = sorted(seen.path for seen in api_server.requests)
    assert paths == ["/echo", "/plain", "/rows?limit=3"]


def test_http_error_answer_fails_the_step_with_the_status(live, api_server):
    workflow = create_workflow(
        live,
        {
            "tasks": {
                "call": {"action": "api.http_get", "input": {"url": f"{api_server.url}/broken"}},
                "after": {"action": "builtin.noop", "depends_on": ["call"]},
            }
        },
    )
    run = completed_run(live, workflow["id"])
    assert run["status"] == "FAILED"
    assert "500" in run["error_message"] and "'call'" in run["error_message"]
    call = live.get(f"/api/v1/runs/{run['run_id']}/steps/call").json
    assert call["status"] == "FAILED"
    assert "answered HTTP 500" in call["error_message"]
    assert steps(live, run["run_id"])["after"]["status"] == "UPSTREAM_FAILED"


# -- health, OpenAPI and docs ---------------------------------------------------------------------


def test_health(client):
    response = client.get("/health")
    assert response.status_code == 200
    health = response.json
    assert (health["status"], health["version"]) == ("healthy", VERSION)
    assert isinstance(health["uptime_seconds"], int | float) and health["uptime_seconds"] >= 0
    timestamp(health["timestamp"])


def test_ready_when_database_redis_and_a_worker_answer(live):
    response = live.get("/health/ready")
    assert response.status_code == 200, response.json
    ready = response.json
    assert ready["ready"] is True
    assert set(ready["checks"]) == {"database", "redis", "workers"}
    for name, check in ready["checks"].items():
        assert check["status"] == "healthy", (name, check)
        assert check["message"] and check["response_time_ms"] >= 0


def test_openapi_documents_every_api_route(client, app):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    spec = json.loads(response.get_data(as_text=True))
    assert spec["openapi"].startswith("3.") and spec["info"]["version"] == VERSION
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        assert path in spec["paths"], f"{path} is not documented"
        documented = {method.upper() for method in spec["paths"][path]}
        assert rule.methods - {"HEAD", "OPTIONS"} <= documented, (path, documented)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_use_only_local_assets(client, page):
    response = client.get(page)
    assert response.status_code == 200
    assert response.content_type.startswith("text/html")
    html = response.get_data(as_text=True)
    assert not re.search(r"https?://", html), "the page loads something from another host"
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets, "no assets referenced"
    assert "/openapi.json" in html
    for url in [*assets, "/openapi.json"]:
        assert url.startswith("/")
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.get_data()) > 100, url


def test_many_runs_of_a_wide_workflow_submitted_at_once_all_start(live, server):
    """A group of chains is sent with a producer per member on top of the group's own: as many
    concurrent submissions as a process has producers used to block every API thread for good
    (celery#5220). Each POST must answer, and each run start."""
    branches = [
        {
            "id": f"{kind}{i}",
            "action": "builtin.noop",
            **({"depends_on": [f"a{i}"]} if kind == "b" else {}),
        }
        for i in range(40)
        for kind in ("a", "b")
    ]
    sink = {"id": "sink", "action": "builtin.noop", "depends_on": [f"b{i}" for i in range(40)]}
    workflow = create_workflow(live, {"name": unique("wide"), "tasks": [*branches, sink]})
    url = f"http://{server}/api/v1/workflows/{workflow['id']}/execute"

    def post(_index: int) -> httpx.Response:
        return httpx.post(url, json={}, headers=ADMIN, timeout=30)

    with ThreadPoolExecutor(max_workers=24) as pool:
        answers = list(pool.map(post, range(24)))
    assert [a.status_code for a in answers] == [202] * 24, [a.text for a in answers if a.is_error]
    for answer in answers:  # started, then stopped: the worker need not run them all
        run_id = answer.json()["run_id"]
        assert live.post(f"/api/v1/runs/{run_id}/cancel", json={}).status_code == 200
    for answer in answers:
        assert wait_for_run(live, answer.json()["run_id"])["status"] in ("CANCELLED", "COMPLETED")
