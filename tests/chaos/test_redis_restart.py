"""redis_restart: the broker dies with everything it held, and comes back empty.

Killing ``redis-server`` (no persistence) loses every queued and unacknowledged message, the
results, the control cache and the pub/sub subscriptions. What should happen: workers, beat and
the API reconnect; runs whose messages vanished stop moving, and the sweep's stall detection
gives them a new generation (README "Crash recovery"), so every run completes.

Live clients watch two runs through the restart, a WebSocket and an SSE client on each. On the
first run they stay connected: the API's event hub must resubscribe and replay what it missed.
On the second run their connections are also cut while Redis is down: they resume from their
last event id. Each must end with exactly the run's stored events.
"""

from __future__ import annotations

import time

import pytest

from tests.chaos.effects import audit, chain, nested
from tests.chaos.streams import finish, watch
from tests.chaos.system import not_completed


@pytest.mark.timeout(300)
def test_redis_restart(make_system, report, chaos_profile):
    system = make_system()
    system.require_sweep()
    workflows = [
        system.api.create_workflow("redis-chain6", chain(system.effects, 6, (0.4, 0.8))),
        system.api.create_workflow("redis-nested", nested(system.effects, (0.4, 0.8))),
    ]
    run_ids = [
        system.api.execute(workflows[i % 2]) for i in range(chaos_profile.redis_restart_runs)
    ]
    watchers = watch(system.api.base, run_ids[:2])  # a WebSocket and an SSE client on each
    try:
        system.wait(lambda: all(w.ids for w in watchers), 15, "every watcher receives events")
        time.sleep(2)  # runs in flight, watchers streaming
        system.redis.kill()
        time.sleep(0.5)
        for watcher in watchers[2:]:  # the second run's clients lose their connections too
            watcher.drop()
        time.sleep(1.5)
        system.redis.start()  # same port, empty
        statuses = system.wait_terminal(run_ids, timeout=150)
    finally:
        finish(watchers, timeout=20)
    verdicts = [v for w in watchers if (v := w.verdict(system.event_ids(w.run_id)))]
    found = audit(system, run_ids)
    completed = sum(status == "COMPLETED" for status in statuses.values())
    report(
        "redis_restart",
        submitted=len(run_ids),
        completed=completed,
        duplicated=len(found.duplicated),
        streams=f"{len(watchers) - len(verdicts)}/{len(watchers)}ok",
        drops=sum(w.drops for w in watchers),
        reconnects=sum(w.reconnects for w in watchers),
        **system.recoveries(run_ids),
    )
    system.verify(
        {
            "runs that did not complete": not_completed(statuses),
            "task bodies run after their completion was recorded": found.duplicated,
            "live clients that did not see exactly the stored events": verdicts,
        }
    )
