"""The stored event log over REST, and the fields every event carries."""

from __future__ import annotations

from tests.integration.helpers import create_workflow, execute, wait_for_run


def finished_run(live) -> str:
    workflow = create_workflow(
        live,
        {
            "tasks": {
                "a": {"action": "builtin.echo", "input": {"x": 1}},
                "b": {"action": "builtin.noop", "depends_on": ["a"]},
            }
        },
    )
    run_id = execute(live, workflow["id"])
    assert wait_for_run(live, run_id)["status"] == "COMPLETED"
    return run_id


def test_run_events_are_ordered_and_carry_the_union_shape(live):
    run_id = finished_run(live)
    page = live.get(f"/api/v1/runs/{run_id}/events").json
    types = [e["type"] for e in page["items"]]
    assert types[0] == "execution_started" and types[-2:] == [
        "execution_completed",
        "workflow_completed",
    ]
    ids = [e["event_id"] for e in page["items"]]
    assert ids == sorted(ids) and page["total"] == len(ids)
    started = next(e for e in page["items"] if e["type"] == "task_started")
    assert started["event_type"] == "task_started" and started["execution_id"] == run_id
    assert started["step_id"] == started["task_id"] == "a"
    assert started["data"]["task_name"] == "a"
    assert (started["data"]["task_index"], started["data"]["total_tasks"]) == (0, 2)
    assert started["details"] == started["payload"] == started["data"]
    completed = next(e for e in page["items"] if e["type"] == "task_completed")
    assert completed["data"]["output"] == {"x": 1} and completed["data"]["task_name"] == "a"


def test_event_log_filters_and_pagination(live):
    first, second = finished_run(live), finished_run(live)
    everything = live.get("/api/v1/events?page_size=100").json
    assert {e["run_id"] for e in everything["items"]} == {first, second}
    only = live.get(
        "/api/v1/events", query_string={"type": "task_completed", "run_id": second}
    ).json
    assert only["total"] == 2
    assert all(e["type"] == "task_completed" and e["run_id"] == second for e in only["items"])
    paged = live.get("/api/v1/events?page=2&page_size=3").json
    assert paged["page"] == 2 and len(paged["items"]) == 3
    assert paged["total_pages"] == -(-everything["total"] // 3)
    after = everything["items"][4]["event_id"]
    later = live.get(f"/api/v1/events?after_event_id={after}&page_size=100").json["items"]
    assert [e["event_id"] for e in later] == [e["event_id"] for e in everything["items"][5:]]
    stamp = everything["items"][0]["timestamp"]
    window = live.get("/api/v1/events", query_string={"from_date": stamp, "to_date": stamp}).json
    assert everything["items"][0]["event_id"] in [e["event_id"] for e in window["items"]]


def test_one_event_by_id_and_404s(live):
    run_id = finished_run(live)
    first = live.get(f"/api/v1/runs/{run_id}/events").json["items"][0]
    one = live.get(f"/api/v1/events/{first['event_id']}")
    assert one.status_code == 200 and one.json == first
    assert live.get("/api/v1/events/999999999").status_code == 404
    assert live.get("/api/v1/runs/nope/events").status_code == 404
    bad = live.get("/api/v1/events?from_date=yesterday")
    assert bad.status_code == 422 and bad.json["errors"][0]["field"] == "from_date"


def test_an_event_id_beyond_64_bits_is_refused_not_crashed(client):
    huge = 2**70
    for path in ("/api/v1/events", "/api/v1/runs/nope/events"):
        response = client.get(f"{path}?after_event_id={huge}")
        assert response.status_code == 422, response.json
        assert response.json["errors"][0]["field"] == "after_event_id"
    assert client.get(f"/api/v1/events?after_event_id={2**63 - 1}").status_code == 200


def test_an_unsupported_method_is_405_with_allow(client):
    response = client.open("/api/v1/agents", method="TRACE")
    assert response.status_code == 405
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert response.json["status_code"] == 405
