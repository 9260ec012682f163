"""Celery tasks: thin, named, idempotent; each takes ids and reloads state (DESIGN §4)."""

from __future__ import annotations

from celery import shared_task
from celery.signals import worker_process_init

from worker import execution
from worker.runtime import get_runtime, reset_runtime


@worker_process_init.connect
def _fresh_connections(**_kwargs) -> None:
    # Never reuse a parent's database or Redis sockets after fork; build this process's own
    # runtime now (it also connects the opt-in message-size recorder).
    reset_runtime()
    get_runtime()


@shared_task(name="harmonia.run_task", bind=True, acks_late=True, max_retries=None)
def run_task(self, run_id: str, task_id: str, generation: int) -> str:
    try:
        return execution.execute_task(
            get_runtime(), run_id, task_id, generation, self.request.retries
        )
    except execution.Retry as retry:
        raise self.retry(countdown=retry.countdown, max_retries=None) from None


@shared_task(name="harmonia.advance", acks_late=True)
def advance(
    run_id: str,
    generation: int,
    kind: str,
    node_id: str,
    index: int = 0,
    member: int | None = None,
    expected: int | None = None,
) -> str:
    return execution.advance(get_runtime(), run_id, generation, kind, node_id, index)


@shared_task(name="harmonia.finalize_run", acks_late=True)
def finalize_run(run_id: str, generation: int) -> str:
    return execution.finalize_run(get_runtime(), run_id, generation)
