"""Webhook deliveries survive their notifier being killed, and the sweep sends what was never
woken: real notifier processes, a real beat, a real receiver."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.cli import beat_argv, notifier_argv, worker_argv
from app.models import OutboxEntry
from tests.integration.api_support import admin_app
from tests.integration.conftest import settings_env, start_process, stop_process
from tests.integration.helpers import create_workflow, execute
from tests.integration.webhook_support import receiver

WORKFLOW = {"tasks": {"t": {"action": "builtin.echo", "input": {"x": 1}}}}


def _spawn(argv, env, log_path: Path) -> subprocess.Popen:
    with open(log_path, "a") as log:
        return subprocess.Popen(
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


@pytest.fixture
def stack(settings, clean, tmp_path):
    """An API and notifiers on queues of their own (nothing else consumes them), with a short
    visibility timeout and request timeout, so a killed notifier's message comes back soon."""
    isolated = settings.with_(
        default_queue=f"hooks-{tmp_path.name[-8:]}", visibility_timeout=5, webhook_timeout=2.0
    )
    application = admin_app(isolated)
    yield application.test_client(), isolated, settings_env(isolated)
    application.extensions["harmonia"].close()


def _state_events(client, count: int) -> str:
    """``count`` state_updated events, written by the API on a run that stays PENDING."""
    run_id = execute(client, create_workflow(client, WORKFLOW)["id"])
    for n in range(count):
        saved = client.put(f"/api/v1/runs/{run_id}/state", json={"state": {"n": n}})
        assert saved.status_code == 200, saved.json
    return run_id


def _deliveries(client, webhook_id: str) -> list[dict]:
    return client.get(f"/api/v1/webhooks/{webhook_id}/deliveries?page_size=100").json["items"]


def _outbox(client, run_id: str) -> int:
    with client.application.extensions["harmonia"].db.transaction() as session:
        return session.execute(
            select(func.count()).where(OutboxEntry.run_id == run_id)
        ).scalar_one()


def test_killing_the_notifier_mid_delivery_loses_nothing(stack, tmp_path):
    client, settings, env = stack
    log = tmp_path / "notifier.log"
    with receiver(delay=1.0) as hooks:  # each answer takes a second: kill lands mid-request
        webhook = client.post(
            "/api/v1/webhooks", json={"url": hooks.url, "events": ["workflow.state.updated"]}
        ).json
        first = _spawn(notifier_argv("doomed"), env, log)
        _state_events(client, 5)
        hooks.wait_for(2, timeout=60)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        before = {d["id"] for d in _deliveries(client, webhook["id"]) if d["status"] == "delivered"}
        assert len(before) < 5, "the notifier was killed too late to prove anything"

        second = _spawn(notifier_argv("heir"), env, log)
        try:
            ids = {d["id"] for d in _deliveries(client, webhook["id"])}
            assert len(ids) == 5
            got = hooks.wait_for_ids(ids, timeout=60)
            deadline = time.monotonic() + 30
            while {d["status"] for d in _deliveries(client, webhook["id"])} != {"delivered"}:
                assert time.monotonic() < deadline, _deliveries(client, webhook["id"])
                time.sleep(0.1)
        finally:
            os.killpg(second.pid, signal.SIGTERM)
            second.wait(timeout=20)
    # Every delivery arrived; at most the one in flight at the kill arrived twice.
    arrivals = [r.delivery_id for r in got]
    assert set(arrivals) == ids
    assert len(arrivals) - len(ids) <= 1, arrivals
    # In order: the first arrival of each follows the events' order.
    firsts = list(dict.fromkeys(arrivals))
    assert all(r.json["data"]["data"]["source"] == "api" for r in got)
    seq = [d["id"] for d in sorted(_deliveries(client, webhook["id"]), key=lambda d: d["event_id"])]
    assert firsts == seq


def test_beat_wakes_deliveries_that_were_never_sent(stack, monkeypatch, tmp_path):
    client, settings, env = stack
    # The API "crashes" after committing the events and their outbox entries, before waking.
    monkeypatch.setattr("app.services.state.wake_expander", lambda *_args, **_kwargs: False)
    env = {**env, "HARMONIA_SWEEP_INTERVAL": "1", "HARMONIA_UNSENT_GRACE": "1"}
    log = tmp_path / "beat.log"
    with receiver() as hooks:
        webhook = client.post(
            "/api/v1/webhooks", json={"url": hooks.url, "events": ["workflow.state.updated"]}
        ).json
        run_id = _state_events(client, 3)
        assert _deliveries(client, webhook["id"]) == []  # written to the outbox, not yet made
        assert _outbox(client, run_id) == 3
        processes = [
            start_process(worker_argv(settings, concurrency=1, name="sweeper"), env, log),
            start_process(beat_argv(settings), env, log),
            start_process(notifier_argv(), env, log),
        ]
        try:
            got = hooks.wait_for(3, timeout=60)
        finally:
            for process in processes:
                stop_process(process)
    assert _outbox(client, run_id) == 0  # made into deliveries, the entries left the outbox
    made = _deliveries(client, webhook["id"])  # newest first
    assert [r.delivery_id for r in got] == [d["id"] for d in reversed(made)]
    assert [r.json["data"]["event_id"] for r in got] == sorted(d["event_id"] for d in made)
