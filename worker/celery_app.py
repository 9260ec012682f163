"""The Celery app. ``make_celery`` builds the same configuration for workers and for the API's
client (which sends signatures by task name and never imports ``worker.tasks``).

Run a worker with ``celery -A worker.celery_app worker`` (``harmonia worker`` does this).
"""

from __future__ import annotations

from celery import Celery
from celery.app.events import Events
from celery.backends.redis import RedisBackend
from celery.events import EventDispatcher

from config.settings import Settings


class ResultBackend(RedisBackend):
    """Redis results, subscribing a process only to results it actually waits for.

    Applying a chord or group makes Celery register every member as a pending result of the
    sending process (a barrier for result callbacks) and subscribe to its Redis channel.
    Harmonia never uses those callbacks (a task never raises; nothing waits on a result), so in
    the API and in workers running ``harmonia.advance`` the subscriptions piled up without bound
    (celery#4925). Here a result is registered only when a caller waits on it (``get()``,
    ``join()``), which is when Celery needs the subscription.
    """

    def add_pending_result(self, result, weak=False, start_drainer=True):
        return result

    def _wait_for_pending(self, result, **kwargs):
        for each in getattr(result, "results", None) or [result]:
            super().add_pending_result(each)
        return super()._wait_for_pending(result, **kwargs)


class FailuresOnly(EventDispatcher):
    """Celery's events without the task events nobody here reads.

    With task events on, a worker's main process publishes three events per task (received,
    started, succeeded), flushed to Redis a few at a time: about a third of its work. The fleet
    monitor reads only ``task-failed`` (and the worker events, always sent); Flower or ``celery
    events`` want them all (``HARMONIA_CELERY_TASK_EVENTS=all``)."""

    READ = frozenset({"task-failed"})

    def send(self, type, *args, **kwargs):  # noqa: A002 - Celery's own signature
        if type.startswith("task-") and type not in self.READ:
            return None
        return super().send(type, *args, **kwargs)


class FailureEvents(Events):
    dispatcher_cls = "worker.celery_app:FailuresOnly"


def make_celery(settings: Settings, *, include_tasks: bool = False) -> Celery:
    app = Celery(
        "harmonia",
        events=FailureEvents if settings.celery_task_events == "failed" else Events,
        broker=settings.redis_url,
        backend=f"worker.celery_app:ResultBackend+{settings.redis_url}",
        include=["worker.tasks"] if include_tasks else [],
        set_as_current=include_tasks,
    )
    transport = {
        "visibility_timeout": settings.visibility_timeout,
        # How soon a message left unacknowledged by a dead worker is put back: kombu scans its
        # unacked index every interval × throttle seconds (100 s by default).
        "unacked_restore_interval": max(1, min(10, settings.visibility_timeout // 2)),
        "unacked_restore_throttle": 1,
    }
    app.conf.update(
        # Reliability (DESIGN §4): a message is acknowledged only once its task has finished,
        # re-queued if the worker process dies, and never prefetched beyond one per process.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options=transport,
        result_backend_transport_options=transport,
        broker_connection_retry_on_startup=True,
        task_default_queue=settings.default_queue,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        worker_send_task_events=True,
        task_time_limit=int(settings.default_task_timeout) + 60,
        task_soft_time_limit=int(settings.default_task_timeout),
        result_expires=3600,
        worker_hijack_root_logger=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        # The recovery sweep (app/services/recovery.py); `harmonia dev` and docker-compose run
        # Celery beat to send it.
        beat_schedule={
            "harmonia-sweep": {
                "task": "harmonia.sweep",
                "schedule": settings.sweep_interval,
                # Its own queue, so it never waits behind a backlog of tasks; one that still
                # waited a whole interval (every pool process busy) is superseded by the next.
                "options": {"queue": settings.sweep_queue, "expires": settings.sweep_interval},
            },
        },
    )
    return app


celery = make_celery(Settings.from_env(), include_tasks=True)
app = celery
