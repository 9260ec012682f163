"""One event vocabulary: Harmonia's internal event types (DESIGN §6) and the names the seeds
use for them — seed 003's dotted names and seed 004's — for webhook filters and payloads.

The README's "Webhooks" section prints this table; ``tests/unit/test_vocabulary.py`` checks that
every type the engine emits has a row.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass


@dataclass(frozen=True)
class EventName:
    internal: str
    dotted: str  # seed 003 and the canonical webhooks' ``X-Harmonia-Event``
    synthesis: str  # seed 004
    description: str
    # What the event's ``data`` holds besides ``execution_id`` and ``step_id`` (for the docs).
    fields: tuple[str, ...] = ()


TASK = ("action", "task_name", "task_index", "total_tasks")
EVENTS: tuple[EventName, ...] = (
    EventName("execution_started", "workflow.execution.started", "execution_started",
              "A run started", ("workflow_id", "workflow_name")),
    EventName("execution_paused", "workflow.execution.paused", "execution_paused",
              "A run paused (nothing runs)", ("reason",)),
    EventName("execution_resumed", "workflow.execution.resumed", "execution_resumed",
              "A paused, failed or cancelled run goes on",
              ("reason", "generation", "step_id", "tasks_to_run")),
    EventName("execution_completed", "workflow.execution.completed", "execution_completed",
              "A run completed",
              ("output", "workflow_id", "workflow_name", "duration_seconds")),
    EventName("execution_failed", "workflow.execution.failed", "execution_failed",
              "A run failed", ("failed_steps", "duration_seconds")),
    EventName("execution_cancelled", "workflow.execution.cancelled", "execution_cancelled",
              "A run was cancelled", ("reason",)),
    EventName("execution_restored", "workflow.execution.restored", "execution_restored",
              "A run was created from a checkpoint",
              ("original_run_id", "checkpoint_id", "restored_tasks", "tasks_to_run")),
    EventName("checkpoint_created", "workflow.checkpoint.created", "checkpoint_created",
              "A checkpoint of a run was taken",
              ("checkpoint_id", "name", "trigger", "run_status", "completed_tasks")),
    EventName("state_updated", "workflow.state.updated", "state_updated",
              "A run's custom state was written", ("keys", "source")),
    EventName("progress_updated", "workflow.progress.updated", "progress_updated",
              "A run's progress report changed (read it at /api/v1/runs/{id}/progress)",
              ("completed_tasks", "total_tasks")),
    EventName("task_started", "task.execution.started", "step_started",
              "A task started running", ("attempt", *TASK)),
    EventName("task_progress", "task.execution.progress", "step_progress",
              "A running task reported progress",
              ("progress", "percent", "message", "task_name")),
    EventName("step_output", "task.execution.output", "step_output",
              "A running task wrote output (stdout/stderr lines)",
              ("stream", "line", "lines", "line_number", "task_name", "truncated")),
    EventName("task_completed", "task.execution.completed", "step_completed",
              "A task completed", ("duration", "output_size", "output")),
    EventName("task_failed", "task.execution.failed", "step_failed",
              "A task failed (after its retries)",
              ("duration", "error", "error_details", "attempt", "retry_count", "max_retries")),
    EventName("task_retrying", "task.execution.retrying", "step_retrying",
              "A task failed an attempt and will be retried",
              ("attempt", "retry_count", "max_retries", "delay", "error")),
    EventName("task_skipped", "task.execution.skipped", "step_skipped",
              "A task was skipped (condition false, or upstream failed)",
              ("reason", "condition", "status", *TASK)),
    EventName("task_cancelled", "task.execution.cancelled", "step_cancelled",
              "A task was cancelled", ("duration", "error", "attempt")),
    EventName("task_reclaimed", "task.execution.reclaimed", "step_reclaimed",
              "A task lost with its worker was put back to run again",
              ("previous_worker", "status")),
    EventName("invocation_started", "integration.invocation.started", "invocation_started",
              "A direct capability invocation started", ("invocation_id", "action", "worker")),
    EventName("invocation_completed", "integration.invocation.completed",
              "invocation_completed", "A direct capability invocation completed",
              ("invocation_id", "duration_ms", "output")),
    EventName("invocation_failed", "integration.invocation.failed", "invocation_failed",
              "A direct capability invocation failed",
              ("invocation_id", "duration_ms", "error", "previous_worker")),
    EventName("webhook_disabled", "webhook.disabled", "webhook_disabled",
              "A webhook was disabled after too many failed deliveries",
              ("webhook_id", "url", "consecutive_failures", "reason")),
    # The fleet monitor's (worker/monitor.py): about no run, but worth an alert.
    EventName("worker_online", "worker.online", "worker_online",
              "A Celery worker came online (the monitor heard its first heartbeat)",
              ("hostname", "pid", "versions", "system", "heartbeat_interval")),
    EventName("worker_offline", "worker.offline", "worker_offline",
              "A Celery worker went offline: it said goodbye (clean), its heartbeats stopped "
              "(heartbeat_expired), or it came back as a new process (restarted)",
              ("hostname", "reason", "last_heartbeat", "pid")),
)  # fmt: skip

# Sent by ``POST /api/v1/webhooks/.../test``; matched by no filter.
TEST_EVENT = EventName(
    "webhook_test", "webhook.test", "webhook_test", "A test delivery", ("message", "webhook_id")
)

BY_INTERNAL = {e.internal: e for e in EVENTS}
# The ops API's audit trail (app/services/ops.py): who steered the worker fleet, in the event log
# but about no run, so no webhook is told.
OPS_EVENTS = frozenset(
    f"ops_{action}"
    for action in (
        "pool_grow",
        "pool_shrink",
        "autoscale",
        "add_consumer",
        "cancel_consumer",
        "rate_limit",
        "shutdown",
        "revoke",
    )
)
# ``workflow_completed`` is seed 000's second name for ``execution_completed`` on its streams;
# webhooks would receive the same completion twice, so it has no webhook name.
NOT_NOTIFIED = frozenset({"workflow_completed"}) | OPS_EVENTS


def names(event: EventName) -> tuple[str, str, str]:
    return event.internal, event.dotted, event.synthesis


def pattern_matches_any(pattern: str) -> bool:
    """Whether ``pattern`` (a name or a ``*`` wildcard) names at least one known event."""
    return any(fnmatch.fnmatchcase(name, pattern) for event in EVENTS for name in names(event))


def compile_filter(patterns: list[str]) -> frozenset[str]:
    """The internal types a webhook's ``events`` patterns select (in any vocabulary)."""
    return frozenset(
        event.internal
        for event in EVENTS
        if any(fnmatch.fnmatchcase(name, p) for p in patterns for name in names(event))
    )


def notified_types(patterns: list[str]) -> list[str]:
    """The internal types whose events a webhook with these ``events`` patterns is sent, sorted
    (kept with the webhook, ``Webhook.event_types``, so SQL can match events to webhooks)."""
    return sorted(compile_filter(list(patterns)) - NOT_NOTIFIED)


def internal_types(name: str) -> list[str]:
    """The internal types a name in any vocabulary stands for (``step_completed`` →
    ``task_completed``); an unknown name stands for itself."""
    found = [event.internal for event in EVENTS if name in names(event)]
    return found or [name]


def name_for(internal: str, profile: str) -> str:
    """The name a webhook created through ``profile`` receives for an internal type."""
    event = BY_INTERNAL.get(internal) or (TEST_EVENT if internal == TEST_EVENT.internal else None)
    if event is None:
        return internal
    return event.synthesis if profile == "seed004" else event.dotted
