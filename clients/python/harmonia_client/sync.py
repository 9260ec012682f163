"""``Client``: the canonical ``/api/v1`` API over blocking httpx.

Every method sends one ``calls.Call`` (retried on 429/503 and dropped connections, see
``retrying``) and returns the server's JSON; a refusal raises a typed ``HarmoniaError``.
``iter_*`` walk a paginated list lazily, one page per request; ``stream_events`` follows a run
live over its WebSocket and survives disconnects.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import httpx

from harmonia_client import calls
from harmonia_client.config import resolve
from harmonia_client.models import Checkpoint, Event, Page, Run, Step, Template, Workflow
from harmonia_client.streaming import stream_sync
from harmonia_client.transport import http_options, send


class Client:
    """``Client(base_url=None, api_key=None, timeout=30.0, retries=3)``; ``None`` reads
    ``HARMONIA_URL`` / ``HARMONIA_API_KEY``. Use it as a context manager, or call ``close()``."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 30.0,
        retries: int = 3,
    ):
        self.config = resolve(base_url, api_key, timeout, retries)
        self._http = httpx.Client(**http_options(self.config))

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None
    ) -> Any:
        """Any call on the server (a path under the base URL), with the client's retries and
        errors."""
        return self._send(calls.Call(method, path, params, json))

    def _send(self, call: calls.Call) -> Any:
        return send(self._http, self.config.retries, call)

    def _walk(self, path: str, page_size: int, filters: Mapping[str, Any]) -> Iterator[Any]:
        number = 1
        while True:
            items = self._send(calls.page(path, number, page_size, filters))["items"]
            yield from items
            if len(items) < page_size:
                return
            number += 1

    # Workflows

    def create_workflow(
        self, name: str, tasks: Mapping[str, Any] | Sequence[Any] | None = None, **fields: Any
    ) -> Workflow:
        """A workflow in any dialect: ``tasks``, or e.g. ``steps=...``, ``description=...``."""
        return self._send(calls.create_workflow(name, tasks, fields))

    def list_workflows(self, page: int = 1, page_size: int = 20, **filters: Any) -> Page:
        return self._send(calls.page(f"{calls.API}/workflows", page, page_size, filters))

    def iter_workflows(self, page_size: int = 50, **filters: Any) -> Iterator[Workflow]:
        return self._walk(f"{calls.API}/workflows", page_size, {**calls.STABLE_ORDER, **filters})

    def get_workflow(self, workflow_id: str) -> Workflow:
        return self._send(calls.get_workflow(workflow_id))

    def update_workflow(self, workflow_id: str, **fields: Any) -> Workflow:
        return self._send(calls.update_workflow(workflow_id, fields))

    def delete_workflow(self, workflow_id: str) -> dict[str, Any]:
        return self._send(calls.delete_workflow(workflow_id))

    def list_workflow_versions(self, workflow_id: str, page: int = 1, page_size: int = 20) -> Page:
        return self._send(calls.page(calls.workflow_versions(workflow_id), page, page_size, {}))

    def get_workflow_plan(self, workflow_id: str) -> dict[str, Any]:
        return self._send(calls.workflow_plan(workflow_id))

    def execute_workflow(
        self,
        workflow_id: str,
        input_data: Mapping[str, Any] | None = None,
        variables: Mapping[str, Any] | None = None,
    ) -> Run:
        """Start a run (the server answers 202 with it, ``PENDING``)."""
        return self._send(calls.execute_workflow(workflow_id, input_data, variables))

    # Runs

    def list_runs(self, page: int = 1, page_size: int = 20, **filters: Any) -> Page:
        return self._send(calls.page(f"{calls.API}/runs", page, page_size, filters))

    def iter_runs(self, page_size: int = 50, **filters: Any) -> Iterator[Run]:
        return self._walk(f"{calls.API}/runs", page_size, {**calls.STABLE_ORDER, **filters})

    def get_run(self, run_id: str) -> Run:
        return self._send(calls.get_run(run_id))

    def get_steps(self, run_id: str) -> list[Step]:
        return self._send(calls.get_steps(run_id))

    def get_step(self, run_id: str, step_id: str) -> Step:
        return self._send(calls.get_step(run_id, step_id))

    def get_logs(self, run_id: str, step_id: str | None = None) -> dict[str, Any]:
        return self._send(calls.get_logs(run_id, step_id))

    def get_progress(self, run_id: str) -> dict[str, Any]:
        return self._send(calls.get_progress(run_id))

    def pause_run(self, run_id: str, reason: str | None = None) -> Run:
        return self._send(calls.control(run_id, "pause", reason))

    def resume_run(self, run_id: str) -> Run:
        return self._send(calls.control(run_id, "resume"))

    def cancel_run(self, run_id: str, reason: str | None = None) -> Run:
        return self._send(calls.control(run_id, "cancel", reason))

    def retry_run(self, run_id: str) -> Run:
        return self._send(calls.control(run_id, "retry"))

    def rerun_from_step(
        self, run_id: str, step_id: str, input: Mapping[str, Any] | None = None
    ) -> Run:
        return self._send(calls.rerun_from_step(run_id, step_id, input))

    def get_state(self, run_id: str) -> dict[str, Any]:
        return self._send(calls.get_state(run_id))

    def set_state(self, run_id: str, state: Mapping[str, Any]) -> dict[str, Any]:
        return self._send(calls.set_state(run_id, state))

    def get_variables(self, run_id: str) -> dict[str, Any]:
        return self._send(calls.get_variables(run_id))

    def wait_for_run(self, run_id: str, timeout: float = 300.0, poll_interval: float = 0.5) -> Run:
        """The run once it is COMPLETED, FAILED or CANCELLED; ``TimeoutError`` after
        ``timeout``."""
        deadline = time.monotonic() + timeout
        while (run := self.get_run(run_id))["status"] not in calls.RUN_FINAL:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"run {run_id} is still {run['status']} after {timeout}s")
            time.sleep(poll_interval)
        return run

    # Events

    def list_events(
        self, run_id: str | None = None, page: int = 1, page_size: int = 20, **filters: Any
    ) -> Page:
        return self._send(calls.page(calls.events_path(run_id), page, page_size, filters))

    def iter_events(
        self, run_id: str | None = None, page_size: int = 100, **filters: Any
    ) -> Iterator[Event]:
        """Stored events in id order (one run's, or every run's with filters)."""
        return self._walk(calls.events_path(run_id), page_size, filters)

    def get_event(self, event_id: int) -> Event:
        return self._send(calls.get_event(event_id))

    def stream_events(self, run_id: str, after_event_id: int | None = None) -> Iterator[Event]:
        """The run's events live, from the first (or after ``after_event_id``), until its final
        event; a dropped connection is reopened and resumed with no gap and no repeat."""
        return stream_sync(
            self.config.base_url, self.config.api_key, run_id, after_event_id, self.config.timeout
        )

    # Checkpoints

    def create_checkpoint(
        self, run_id: str, name: str | None = None, description: str | None = None
    ) -> Checkpoint:
        return self._send(calls.create_checkpoint(run_id, name, description))

    def list_checkpoints(
        self, run_id: str | None = None, page: int = 1, page_size: int = 20
    ) -> Page:
        return self._send(calls.page(calls.checkpoints_path(run_id), page, page_size, {}))

    def get_checkpoint(self, checkpoint_id: str) -> Checkpoint:
        return self._send(calls.get_checkpoint(checkpoint_id))

    def delete_checkpoint(self, checkpoint_id: str) -> dict[str, Any]:
        return self._send(calls.delete_checkpoint(checkpoint_id))

    def restore_checkpoint(self, checkpoint_id: str) -> Run:
        """A new run from the checkpoint (steps done in it are not run again)."""
        return self._send(calls.restore_checkpoint(checkpoint_id))

    # Templates

    def create_template(self, name: str, **fields: Any) -> Template:
        """``parameters``, and ``workflow_id`` or an inline ``definition``."""
        return self._send(calls.create_template(name, fields))

    def list_templates(self, page: int = 1, page_size: int = 20, **filters: Any) -> Page:
        return self._send(calls.page(calls.TEMPLATES, page, page_size, filters))

    def get_template(self, template_id: str) -> Template:
        return self._send(calls.get_template(template_id))

    def update_template(self, template_id: str, **fields: Any) -> Template:
        return self._send(calls.update_template(template_id, fields))

    def delete_template(self, template_id: str) -> dict[str, Any]:
        return self._send(calls.delete_template(template_id))

    def instantiate_template(
        self,
        template_id: str,
        parameter_values: Mapping[str, Any] | None = None,
        name: str | None = None,
    ) -> Workflow:
        return self._send(calls.instantiate_template(template_id, parameter_values, name))
