"""Webhooks end to end: registered over the API, fed by real runs on a real worker, delivered by
a real notifier (``harmonia notifier``) to a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest

from tests.integration.api_support import admin_app, assert_error, free_port
from tests.integration.helpers import create_workflow, execute, run_events, wait_for_run
from tests.integration.webhook_support import readme_receiver, receiver

CHAIN = {
    "tasks": {
        "a": {"action": "builtin.echo", "input": {"n": 1}},
        "b": {"action": "builtin.echo", "input": {"n": 2}, "depends_on": ["a"]},
        "c": {"action": "builtin.echo", "input": {"n": 3}, "depends_on": ["b"]},
    }
}


def register(client, url: str, **fields) -> dict:
    response = client.post("/api/v1/webhooks", json={"url": url, **fields})
    assert response.status_code == 201, response.json
    return response.json


def deliveries(client, webhook_id: str, **query) -> list[dict]:
    response = client.get(
        f"/api/v1/webhooks/{webhook_id}/deliveries", query_string={"page_size": 100, **query}
    )
    assert response.status_code == 200, response.json
    return response.json["items"]


def notified_events(client, run_id: str) -> list[dict]:
    """The run's stored events a ``*`` webhook receives (all but seed 000's duplicate)."""
    return [e for e in run_events(client, run_id) if e["type"] != "workflow_completed"]


def run_chain(client) -> tuple[str, list[dict]]:
    workflow = create_workflow(client, CHAIN)
    run_id = execute(client, workflow["id"])
    assert wait_for_run(client, run_id)["status"] == "COMPLETED"
    return run_id, notified_events(client, run_id)


# --- registering ------------------------------------------------------------------------------


def test_a_webhook_is_registered_read_changed_and_deleted(client):
    created = register(client, "http://127.0.0.1:9/hooks", events=["workflow.*", "task_failed"])
    assert created["secret"].startswith("whsec_") and created["has_secret"] is True
    assert created["status"] == "active" and created["events"] == ["workflow.*", "task_failed"]

    read = client.get(f"/api/v1/webhooks/{created['id']}").json
    assert "secret" not in read and read["has_secret"] is True
    listed = client.get("/api/v1/webhooks").json
    assert [w["id"] for w in listed["items"]] == [created["id"]] and listed["total"] == 1

    changed = client.put(
        f"/api/v1/webhooks/{created['id']}", json={"active": False, "secret": None}
    ).json
    assert changed["status"] == "inactive" and changed["has_secret"] is False
    assert "secret" not in changed
    past = client.put(
        f"/api/v1/webhooks/{created['id']}",
        json={"active": True, "expires_at": "2020-01-01T00:00:00Z"},
    ).json
    assert past["status"] == "expired"
    expired = client.get("/api/v1/webhooks?status=expired").json["items"]
    assert [w["id"] for w in expired] == [created["id"]]

    assert client.delete(f"/api/v1/webhooks/{created['id']}").status_code == 204
    assert_error(client.get(f"/api/v1/webhooks/{created['id']}"), 404, detail="Webhook")


def test_bad_webhooks_get_a_422_naming_the_field(client):
    unknown = client.post("/api/v1/webhooks", json={"url": "http://a.example", "events": ["nope"]})
    assert_error(unknown, 422, field="events.0", detail="events")
    ftp = client.post("/api/v1/webhooks", json={"url": "ftp://a.example/x"})
    assert_error(ftp, 422, field="url")
    assert_error(client.post("/api/v1/webhooks", json={}), 422, field="url")
    short = client.post("/api/v1/webhooks", json={"url": "http://a.example", "secret": "x"})
    assert_error(short, 422, field="secret")
    assert client.get("/api/v1/webhooks").json["total"] == 0


def test_the_ssrf_guard_refuses_private_addresses(settings, clean):
    guarded = admin_app(settings.with_(webhook_allow_private=False))
    client = guarded.test_client()
    try:
        for url in (
            "http://127.0.0.1:8002/x",
            "http://localhost/x",
            "http://10.1.2.3/x",
            "http://192.168.0.10/x",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]:8080/x",
            "http://0.0.0.0/x",
        ):
            refused = client.post("/api/v1/webhooks", json={"url": url})
            body = assert_error(refused, 422, field="url")
            assert "HARMONIA_WEBHOOK_ALLOW_PRIVATE" in body["detail"], body
        adhoc = client.post("/api/v1/webhooks/test", json={"url": "http://127.0.0.1:9/x"})
        assert_error(adhoc, 422, field="url")
        # A public address is accepted (nothing is sent when registering).
        public = client.post("/api/v1/webhooks", json={"url": "http://93.184.215.14/hook"})
        assert public.status_code == 201, public.json
        moved = client.put(
            f"/api/v1/webhooks/{public.json['id']}", json={"url": "http://127.0.0.1/x"}
        )
        assert_error(moved, 422, field="url")
        assert (
            client.get(f"/api/v1/webhooks/{public.json['id']}").json["url"].startswith("http://93.")
        )
    finally:
        guarded.extensions["harmonia"].close()


def test_the_spec_documents_each_event_and_the_signature(client):
    spec = client.get("/openapi.json").json
    hooks = spec["webhooks"]
    assert "task.execution.completed" in hooks and "workflow.execution.failed" in hooks
    post = hooks["task.execution.completed"]["post"]
    headers = {p["name"]: p for p in post["parameters"]}
    assert "HMAC-SHA256" in headers["X-Harmonia-Signature"]["description"]
    assert {"X-Harmonia-Event", "X-Harmonia-Delivery"} <= set(headers)
    body = post["requestBody"]["content"]["application/json"]["schema"]["allOf"]
    assert body[0] == {"$ref": "#/components/schemas/WebhookPayload"}
    assert "output" in body[1]["properties"]["data"]["properties"]["data"]["properties"]
    assert "WebhookPayload" in spec["components"]["schemas"]


# --- delivering -------------------------------------------------------------------------------


def test_a_runs_events_arrive_in_order_signed_and_verifiable(live, notifier):
    with receiver() as hooks:
        webhook = register(live, hooks.url)
        run_id, events = run_chain(live)
        got = hooks.wait_for(len(events))
        time.sleep(0.5)  # nothing more may come
        assert len(hooks.requests) == len(events)

    assert [r.json["data"]["event_id"] for r in got] == [e["event_id"] for e in events]
    # The worker that begins the run announces it (and its progress) before any task starts.
    assert [r.json["type"] for r in got][:3] == [
        "execution_started",
        "progress_updated",
        "task_started",
    ]
    assert got[-1].json["event"] == "workflow.execution.completed"
    assert len({r.delivery_id for r in got}) == len(got)
    verify = readme_receiver(webhook["secret"])
    for request in got:
        assert request.headers["X-Harmonia-Event"] == request.json["event"]
        assert request.json["id"] == request.delivery_id
        assert request.json["data"]["execution_id"] == run_id
        answer = verify.post("/harmonia", data=request.raw, headers=request.headers)
        assert answer.status_code == 204, request.headers
    # The README's receiver refuses a forged body and a replay.
    sample = got[0]
    forged = verify.post("/harmonia", data=sample.raw + b" ", headers=sample.headers)
    assert forged.status_code == 400
    old = int(time.time()) - 301
    mac = hmac.new(webhook["secret"].encode(), f"{old}.".encode() + sample.raw, hashlib.sha256)
    replayed = {**sample.headers, "X-Harmonia-Signature": f"t={old},v1={mac.hexdigest()}"}
    assert verify.post("/harmonia", data=sample.raw, headers=replayed).status_code == 400

    history = deliveries(live, webhook["id"])
    assert len(history) == len(events)
    assert {d["status"] for d in history} == {"delivered"}
    assert {d["status_code"] for d in history} == {200}
    assert all(d["attempts"] == 1 and d["latency_ms"] is not None for d in history)


def test_filters_pick_events_by_name_workflow_and_run(live, notifier):
    with receiver() as hooks:
        other = create_workflow(live, CHAIN)
        chosen = create_workflow(live, CHAIN)
        by_workflow = register(
            live, hooks.url + "/wf", events=["workflow.execution.*"], workflow_id=chosen["id"]
        )
        by_name = register(live, hooks.url + "/failed", events=["task.execution.failed"])
        seed004 = register(live, hooks.url + "/steps", events=["step_completed"])
        for workflow in (other, chosen):
            assert wait_for_run(live, execute(live, workflow["id"]))["status"] == "COMPLETED"
        hooks.wait_for(2 + 6)
        time.sleep(0.5)
    kinds = sorted((r.json["webhook_id"], r.json["event"]) for r in hooks.requests)
    assert kinds == sorted(
        [(by_workflow["id"], "workflow.execution.started"),
         (by_workflow["id"], "workflow.execution.completed")]
        + [(seed004["id"], "task.execution.completed")] * 6  # both runs' three tasks
    )  # fmt: skip
    assert deliveries(live, by_name["id"]) == []


def test_a_receiver_failing_three_times_gets_the_fourth_attempt(live, notifier):
    with receiver(answer=lambda n: 500 if n < 3 else 200) as hooks:
        webhook = register(live, hooks.url, events=["workflow.execution.started"])
        workflow = create_workflow(live, CHAIN)
        wait_for_run(live, execute(live, workflow["id"]))
        got = hooks.wait_for(4, timeout=30)
        time.sleep(0.5)
    assert len(hooks.requests) == 4
    assert len({r.delivery_id for r in got}) == 1
    assert [r.headers["X-Harmonia-Attempt"] for r in got] == ["1", "2", "3", "4"]
    gaps = [b.at - a.at for a, b in zip(got, got[1:], strict=False)]
    # Backoff 0.2 s × 2^n with ±25% jitter: each wait is at least 0.15, 0.3, 0.6 s.
    assert all(gap >= 0.15 * 2**i for i, gap in enumerate(gaps)), gaps
    [delivery] = deliveries(live, webhook["id"])
    assert delivery["status"] == "delivered" and delivery["attempts"] == 4
    detail = live.get(f"/api/v1/webhooks/{webhook['id']}/deliveries/{delivery['id']}").json
    assert [a["status_code"] for a in detail["history"]] == [500, 500, 500, 200]
    assert detail["history"][0]["error"] == "Receiver answered HTTP 500"


def test_a_receiver_down_during_the_run_gets_everything_once_it_is_back(live, notifier):
    port = free_port()
    webhook = register(live, f"http://127.0.0.1:{port}/hooks")
    run_id, events = run_chain(live)
    deadline = time.monotonic() + 10
    while max(d["attempts"] for d in deliveries(live, webhook["id"])) < 2:  # refused twice
        assert time.monotonic() < deadline, deliveries(live, webhook["id"])
        time.sleep(0.05)
    history = deliveries(live, webhook["id"])
    assert len(history) == len(events) and {d["status"] for d in history} == {"pending"}
    assert "ConnectError" in history[-1]["error"], history[-1]
    with receiver(port=port) as hooks:
        got = hooks.wait_for(len(events), timeout=60)
        time.sleep(0.5)
    assert [r.json["data"]["event_id"] for r in got] == [e["event_id"] for e in events]
    assert {d["status"] for d in deliveries(live, webhook["id"])} == {"delivered"}


def test_deliveries_that_keep_failing_dead_letter_disable_the_endpoint_and_redeliver(
    settings, live, notifier
):
    with receiver(answer=lambda n: 503) as hooks:
        webhook = register(live, hooks.url, events=["workflow.execution.started"])
        for _ in range(settings.webhook_disable_after):
            wait_for_run(live, execute(live, create_workflow(live, CHAIN)["id"]))
        deadline = time.monotonic() + 90
        while live.get(f"/api/v1/webhooks/{webhook['id']}").json["status"] != "disabled":
            assert time.monotonic() < deadline, deliveries(live, webhook["id"])
            time.sleep(0.2)
    read = live.get(f"/api/v1/webhooks/{webhook['id']}").json
    assert read["consecutive_failures"] == settings.webhook_disable_after
    assert "in a row failed" in read["disabled_reason"]
    history = deliveries(live, webhook["id"])
    assert {d["status"] for d in history} == {"failed"}
    dead = [d for d in history if d["attempts"] == settings.webhook_max_attempts]
    assert dead, history
    disabled = live.get("/api/v1/events?type=webhook_disabled").json["items"]
    assert [e["data"]["webhook_id"] for e in disabled] == [webhook["id"]]

    # A disabled webhook cannot redeliver; re-enabled, it can, with the same delivery id.
    target = dead[0]["id"]
    path = f"/api/v1/webhooks/{webhook['id']}/deliveries/{target}/redeliver"
    assert_error(live.post(path), 400, detail="disabled")
    with receiver() as hooks:
        live.put(f"/api/v1/webhooks/{webhook['id']}", json={"url": hooks.url, "active": True})
        again = live.post(path)
        assert again.status_code == 202 and again.json["status"] == "pending", again.json
        [got] = hooks.wait_for(1)
    assert got.delivery_id == target
    assert live.get(f"/api/v1/webhooks/{webhook['id']}").json["consecutive_failures"] == 0


def test_test_deliveries_answer_at_once(live):
    with receiver(answer=lambda n: 200 if n == 0 else 418) as hooks:
        webhook = register(live, hooks.url, events=["task.*"])
        ok = live.post(f"/api/v1/webhooks/{webhook['id']}/test").json
        assert ok["success"] is True and ok["status_code"] == 200, ok
        assert ok["message"] == "Webhook delivered successfully"
        teapot = live.post(
            "/api/v1/webhooks/test",
            json={"url": hooks.url, "event": "workflow.execution.completed",
                  "payload": {"id": "1", "status": "COMPLETED"}, "secret": "webhook-secret"},
        ).json  # fmt: skip
        assert teapot["success"] is False and teapot["status_code"] == 418, teapot
    first, second = hooks.requests
    assert first.headers["X-Harmonia-Event"] == "webhook.test"
    assert first.json["id"] == ok["delivery_id"]
    assert second.json["data"] == {"id": "1", "status": "COMPLETED"}
    t, v1 = (part.split("=", 1)[1] for part in second.headers["X-Harmonia-Signature"].split(","))
    mac = hmac.new(b"webhook-secret", f"{t}.".encode() + second.raw, hashlib.sha256)
    assert v1 == mac.hexdigest()
    [kept] = deliveries(live, webhook["id"])
    assert kept["id"] == ok["delivery_id"] and kept["status"] == "delivered"
    assert kept["event"] == "webhook.test"
    down = live.post("/api/v1/webhooks/test", json={"url": f"http://127.0.0.1:{free_port()}/"})
    assert down.status_code == 200 and down.json["success"] is False
    assert "ConnectError" in down.json["error"]


def test_a_redirect_is_not_followed(live):
    with receiver(answer=lambda n: 302) as hooks:
        result = live.post("/api/v1/webhooks/test", json={"url": hooks.url}).json
    assert result["success"] is False and "redirects are not followed" in result["error"]


@pytest.mark.parametrize("body", [{"url": "http://a.example", "payload": [1]}, {"url": 5}])
def test_a_bad_ad_hoc_test_is_a_422(client, body):
    assert_error(client.post("/api/v1/webhooks/test", json=body), 422)
