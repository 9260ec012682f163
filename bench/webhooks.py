"""Webhooks under load: N endpoints subscribed to every event of a 200-task fan-out/fan-in.

Measured runs alternate: the run with every webhook inactive (the outbox query finds none); the
same run with all N active and the notifier stopped (the outbox alone: entries written, then
discarded unsent); then with all N active while a real notifier (``harmonia notifier``) delivers
to a real receiver in another process; last, with no webhook again, beside one busy loop per core
at idle priority (the floor of what any work beside the run costs it on this machine). The
run's time is from ``POST …/execute`` to its final event, as for the other shapes; deliveries go
on after it. Afterwards every delivery of the last series must have reached the receiver exactly
once, by delivery id.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import func, select

from app.cli import free_port, notifier_argv, wait_for_port
from app.models import Delivery, OutboxEntry, Webhook
from bench.runners import create_workflow, time_bare, time_harmonia
from bench.services import BENCH_PREFIX, ROOT
from bench.shapes import standard_shapes

SLOWDOWN_TARGET = 1.10
DRAIN_TIMEOUT = 600.0


def run(count: int, repeat: int, services, harness, rt, log) -> dict[str, Any]:
    shape = next(s for s in standard_shapes() if s.key == "fan_out_200")
    workflow_id = create_workflow(harness.http, shape)
    port = free_port()
    # Each in a session of its own, as ``harmonia dev`` starts its services (lower_priority).
    receiver = subprocess.Popen(
        [sys.executable, "-m", "bench.receiver", str(port)], cwd=ROOT, start_new_session=True
    )
    notifier_log = open(ROOT / "bench" / "results" / "notifier.log", "w")  # noqa: SIM115
    notifier = subprocess.Popen(
        notifier_argv("bench-notifier"),
        env=services.env,
        cwd=ROOT,
        stdout=notifier_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        if not wait_for_port("127.0.0.1", port, timeout=20):
            raise RuntimeError("the bench receiver did not start")
        hooks = [
            _register(harness.http, f"http://127.0.0.1:{port}/hooks/{n}") for n in range(count)
        ]
        times: dict[str, list[float]] = {
            "bare": [],
            "none": [],
            "busy": [],
            "outbox": [],
            "webhooks": [],
        }
        drains: list[float] = []
        per_run = 0
        for attempt in range(repeat + 1):  # attempt 0 is the warm-up
            label = "warm-up" if attempt == 0 else f"run {attempt}/{repeat}"
            harness.client.control.purge()
            bare = time_bare(harness.client, shape, harness.timeout).total
            harness.vacuum()
            baseline = time_harmonia(harness.http, harness.events, workflow_id, harness.timeout)
            _set_active(harness.http, hooks, True)
            # The outbox alone: deliveries are written, the notifier is stopped (SIGSTOP).
            notifier.send_signal(signal.SIGSTOP)
            harness.vacuum()
            outbox = time_harmonia(harness.http, harness.events, workflow_id, harness.timeout)
            _discard_outbox(rt)  # that run measured the writing only: nothing to send
            notifier.send_signal(signal.SIGCONT)
            before = _delivered(rt, hooks)
            harness.vacuum()
            loaded = time_harmonia(harness.http, harness.events, workflow_id, harness.timeout)
            ended = time.perf_counter()
            total = _wait_drained(rt, hooks)
            drain = time.perf_counter() - ended
            per_run = total - before
            _set_active(harness.http, hooks, False)
            # Last, as it leaves the machine warm: what any work beside the run costs it here.
            harness.vacuum()
            with _idle_busy_loops():
                busy = time_harmonia(harness.http, harness.events, workflow_id, harness.timeout)
            log(
                f"webhooks x{count:<3} {label:<9} bare {bare:.3f} s, no webhooks "
                f"{baseline.total:.3f} s, beside idle busy loops {busy.total:.3f} s, outbox only "
                f"{outbox.total:.3f} s, with webhooks "
                f"{loaded.total:.3f} s; {per_run:,} deliveries drained {drain:.1f} s after the run"
            )
            if attempt:
                times["bare"].append(bare)
                times["none"].append(baseline.total)
                times["busy"].append(busy.total)
                times["outbox"].append(outbox.total)
                times["webhooks"].append(loaded.total)
                drains.append(drain)
        received = httpx.get(f"http://127.0.0.1:{port}/ids", timeout=30).json()
    finally:
        notifier.terminate()
        receiver.terminate()
        for process in (notifier, receiver):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        notifier_log.close()
    ids = _delivery_ids(rt, hooks)
    bare, none, busy, outbox, loaded = (
        statistics.median(times[k]) for k in ("bare", "none", "busy", "outbox", "webhooks")
    )
    duplicates = sum(n - 1 for n in received.values() if n > 1)
    missing = len(ids - set(received))
    return {
        "webhooks": count,
        "tasks": shape.size,
        "deliveries_per_run": per_run,
        "deliveries_total": len(ids),
        "received_unique": len(set(received) & ids),
        "duplicates": duplicates,
        "missing": missing,
        "exactly_once": duplicates == 0 and missing == 0,
        "bare_s": bare,
        "no_webhooks_s": none,
        "outbox_only_s": outbox,
        "beside_idle_busy_loops_s": busy,
        "with_webhooks_s": loaded,
        "slowdown": loaded / none,
        "ratio_no_webhooks_to_bare": none / bare,
        "ratio_with_webhooks_to_bare": loaded / bare,
        "target_slowdown": SLOWDOWN_TARGET,
        "pass": loaded / none <= SLOWDOWN_TARGET and duplicates == 0 and missing == 0,
        "drain_s": statistics.median(drains),
        "deliveries_per_s": per_run / statistics.median(drains) if drains else None,
        "runs": times,
    }


def report(result: dict[str, Any]) -> str:
    verdict = "PASS" if result["pass"] else "MISS"
    return "\n".join(
        [
            f"webhooks: {result['webhooks']} endpoints x fan-out/fan-in {result['tasks']} "
            f"({result['deliveries_per_run']:,} deliveries per run)",
            f"  run time: bare celery {result['bare_s']:.3f} s, harmonia without webhooks "
            f"{result['no_webhooks_s']:.3f} s ({result['ratio_no_webhooks_to_bare']:.2f}x bare), "
            f"with webhooks {result['with_webhooks_s']:.3f} s "
            f"({result['ratio_with_webhooks_to_bare']:.2f}x bare)",
            f"  outbox only (notifier stopped): {result['outbox_only_s']:.3f} s "
            f"({result['outbox_only_s'] / result['no_webhooks_s']:.3f} of the run without)",
            f"  no webhooks, beside {os.cpu_count()} busy loops at idle priority (SCHED_IDLE): "
            f"{result['beside_idle_busy_loops_s']:.3f} s "
            f"({result['beside_idle_busy_loops_s'] / result['no_webhooks_s']:.3f} of the run "
            "without): what any work beside the run costs it on these cores",
            f"  slowdown {result['slowdown']:.3f} (target <= {SLOWDOWN_TARGET:g}); "
            f"exactly once: {result['deliveries_total']:,} deliveries, "
            f"{result['duplicates']} duplicates, {result['missing']} missing: {verdict}",
            f"  all delivered {result['drain_s']:.1f} s after the run ends "
            f"({result['deliveries_per_s']:,.0f} deliveries/s)",
        ]
    )


@contextmanager
def _idle_busy_loops():
    """One busy loop per core at the lowest scheduling class there is (SCHED_IDLE): the floor of
    what anything running beside the run (a notifier, however niced) costs it here."""
    loops = [
        subprocess.Popen(
            [sys.executable, "-c", "while True: pass"],
            preexec_fn=lambda: os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0)),
        )
        for _ in range(os.cpu_count() or 1)
    ]
    try:
        time.sleep(0.2)
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


def _register(http, url: str) -> str:
    response = http.post(
        "/api/v1/webhooks",
        json={"url": url, "events": ["*"], "active": False, "description": f"{BENCH_PREFIX}hook"},
    )
    if response.status_code != 201:
        raise RuntimeError(f"registering a webhook failed: {response.json}")
    return response.json["id"]


def _set_active(http, hooks: list[str], active: bool) -> None:
    for webhook_id in hooks:
        response = http.put(f"/api/v1/webhooks/{webhook_id}", json={"active": active})
        if response.status_code != 200:
            raise RuntimeError(f"updating a webhook failed: {response.json}")


def _delivered(rt, hooks: list[str]) -> int:
    with rt.db.transaction() as session:
        return session.execute(
            select(func.count()).where(Delivery.webhook_id.in_(hooks))
        ).scalar_one()


def _wait_drained(rt, hooks: list[str]) -> int:
    """Wait until the outbox is empty and nothing is pending; every delivery must have
    succeeded. Returns the total."""
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while True:
        with rt.db.transaction() as session:
            queued = session.execute(select(func.count()).select_from(OutboxEntry)).scalar_one()
            counts = dict(
                session.execute(
                    select(Delivery.status, func.count())
                    .where(Delivery.webhook_id.in_(hooks))
                    .group_by(Delivery.status)
                ).all()
            )
        if not queued and not counts.get("pending"):
            if counts.get("failed"):
                raise RuntimeError(f"{counts['failed']} webhook deliveries failed")
            return sum(counts.values())
        if time.monotonic() > deadline:
            raise TimeoutError(f"still pending after {DRAIN_TIMEOUT:g}s: {counts}, {queued} queued")
        time.sleep(0.2)


def _discard_outbox(rt) -> None:
    with rt.db.transaction() as session:
        session.execute(OutboxEntry.__table__.delete())


def _delivery_ids(rt, hooks: list[str]) -> set[str]:
    with rt.db.transaction() as session:
        return set(
            session.execute(select(Delivery.id).where(Delivery.webhook_id.in_(hooks))).scalars()
        )


def delete_bench_webhooks(rt) -> None:
    with rt.db.transaction() as session:
        ids = select(Webhook.id).where(Webhook.description.like(f"{BENCH_PREFIX}%"))
        session.execute(Delivery.__table__.delete().where(Delivery.webhook_id.in_(ids)))
        session.execute(Webhook.__table__.delete().where(Webhook.id.in_(ids)))
