"""``harmonia`` commands that talk to a running server over its API (never to its database),
through the Python client (``clients/python``, ``harmonia_client``):

- ``harmonia workflows create -f wf.json | list | show ID``
- ``harmonia run WORKFLOW [--input k=v …] [-f input.json] [--watch]``: WORKFLOW is an id or a
  name; ``--watch`` follows the run live and exits 0 only if it completed
- ``harmonia runs list | show ID | logs ID [-f] | pause | resume | cancel | retry ID``,
  ``harmonia runs rerun ID --from STEP [--input k=v …]``
- ``harmonia events --run ID``: the run's events as they happen

The server and key come from ``--url``/``--api-key`` or ``HARMONIA_URL``/``HARMONIA_API_KEY``.
Every read command takes ``--output json`` for scripts. A refusal prints the server's own
message and exits 1.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click
import httpx
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from app.cli.watch import COLOURS, RunView, render

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}


def _client(url: str | None, api_key: str | None):
    from harmonia_client import Client  # the client package, installed beside the server

    return Client(base_url=url, api_key=api_key)


def remote(command: Callable) -> Callable:
    """Adds ``--url``/``--api-key`` and hands the command a connected ``client``; a refusal
    from the server is printed (its message and status) and exits 1."""

    @click.option("--url", envvar="HARMONIA_URL", help="Server URL [HARMONIA_URL]")
    @click.option("--api-key", envvar="HARMONIA_API_KEY", help="API key [HARMONIA_API_KEY]")
    @functools.wraps(command)
    def connected(url: str | None, api_key: str | None, **kwargs: Any):
        from harmonia_client import HarmoniaError

        with _client(url, api_key) as client:
            try:
                return command(client, **kwargs)
            except HarmoniaError as exc:
                raise click.ClickException(f"{exc.status}: {exc.message}") from None
            except (httpx.TransportError, OSError) as exc:  # no server there, or it went away
                where = client.config.base_url
                raise click.ClickException(f"Cannot reach {where}: {exc}") from None

    return connected


def output_option(command: Callable) -> Callable:
    return click.option(
        "--output",
        "-o",
        type=click.Choice(["table", "json"]),
        default="table",
        show_default=True,
        help="json: the server's answer, for scripts",
    )(command)


def _json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


def _table(rows: Iterable[dict[str, Any]], columns: list[str]) -> None:
    rows = list(rows)
    table = Table(box=None, pad_edge=False)
    for column in columns:  # ids and times whole (they are copied), other text may wrap
        whole = column.endswith(("id", "_at"))
        widest = max((len(_cell(column, row.get(column))) for row in rows), default=0)
        table.add_column(column, no_wrap=whole, min_width=widest if whole else None)
    for row in rows:
        table.add_row(
            *(Text(_cell(column, row.get(column)), style=_style(column, row)) for column in columns)
        )
    _console().print(table)


def _console() -> Console:
    """The terminal's width on a terminal; piped, wide enough that no row wraps."""
    return Console() if sys.stdout.isatty() else Console(width=240)


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if column.endswith("_at") and isinstance(value, str):  # to the second, in UTC
        return value.replace("T", " ")[:19]
    return str(value)


def _style(column: str, row: dict[str, Any]) -> str:
    return COLOURS.get(str(row.get(column)), "") if column == "status" else ""


def _inputs(pairs: tuple[str, ...], file: Path | None) -> dict[str, Any]:
    """``-f input.json`` then each ``--input key=value`` (a value that is JSON is read as JSON:
    ``n=3`` is a number, ``who=Ada`` a string)."""
    data: dict[str, Any] = json.loads(file.read_text()) if file else {}
    if not isinstance(data, dict):
        raise click.BadParameter("must hold a JSON object", param_hint="-f")
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"'{pair}' is not key=value", param_hint="--input")
        try:
            data[key] = json.loads(value)
        except ValueError:
            data[key] = value
    return data


def _workflow_id(client, workflow: str) -> str:
    """An id as given, or the id of the workflow with that name."""
    from harmonia_client import NotFound

    try:
        return client.get_workflow(workflow)["id"]
    except NotFound:
        named = client.list_workflows(name=workflow, page_size=100)["items"]
        exact = [w for w in named if w.get("name") == workflow]
        if not exact:
            raise click.ClickException(f"No workflow with the id or name '{workflow}'") from None
        return exact[0]["id"]


# -- workflows ------------------------------------------------------------------------------------


@click.group()
def workflows() -> None:
    """Create, list and show workflows."""


@workflows.command("create")
@click.option("-f", "--file", "file", type=click.Path(exists=True, path_type=Path), required=True)
@output_option
@remote
def workflows_create(client, file: Path, output: str) -> None:
    """Create a workflow from a JSON definition (any dialect the server accepts)."""
    body = json.loads(file.read_text())
    created = client.request("POST", "/api/v1/workflows", json=body)
    if output == "json":
        _json(created)
    else:
        click.echo(f"{created['id']}  {created['name']}  version {created.get('version')}")


@workflows.command("list")
@click.option("--name", help="Only workflows whose name contains this")
@output_option
@remote
def workflows_list(client, name: str | None, output: str) -> None:
    filters = {"name": name} if name else {}
    found = list(client.iter_workflows(**filters))
    if output == "json":
        _json(found)
    else:
        _table(found, ["id", "name", "version", "status", "created_at"])


@workflows.command("show")
@click.argument("workflow")
@output_option
@remote
def workflows_show(client, workflow: str, output: str) -> None:
    found = client.get_workflow(_workflow_id(client, workflow))
    if output == "json":
        _json(found)
        return
    click.echo(f"{found['id']}  {found['name']}  version {found.get('version')}")
    tasks = (found.get("definition") or {}).get("tasks") or found.get("tasks") or {}
    if isinstance(tasks, dict):
        rows = [
            {"task": tid, "action": _action(t), "depends_on": ", ".join(t.get("depends_on", []))}
            for tid, t in tasks.items()
        ]
        _table(rows, ["task", "action", "depends_on"])


def _action(task: dict[str, Any]) -> str:
    if task.get("component"):
        return f"{task['component']}.{task.get('action', '')}"
    return str(task.get("action") or task.get("type") or "")


# -- run ------------------------------------------------------------------------------------------


@click.command("run")
@click.argument("workflow")
@click.option("--input", "-i", "pairs", multiple=True, help="key=value (repeatable)")
@click.option("-f", "--file", "file", type=click.Path(exists=True, path_type=Path))
@click.option("--watch", "-w", is_flag=True, help="Follow the run live; exit 0 if it completes")
@output_option
@remote
def run(client, workflow: str, pairs, file, watch: bool, output: str) -> None:
    """Run WORKFLOW (an id or a name) with its input."""
    started = client.execute_workflow(_workflow_id(client, workflow), _inputs(pairs, file))
    if watch:
        sys.exit(_watch(client, started["id"], output))
    if output == "json":
        _json(started)
    else:
        click.echo(f"{started['id']}  {started['status']}")


def _watch(client, run_id: str, output: str) -> int:
    """Follow the run to its end: the live view (or each event as a JSON line); 0 if it
    completed, 1 if not, naming the steps that failed."""
    if output == "json":
        for event in client.stream_events(run_id):
            click.echo(json.dumps(event, default=str))
        return 0 if client.get_run(run_id)["status"] == "COMPLETED" else 1
    console = Console()
    view = RunView.of(client.get_run(run_id), client.get_steps(run_id))
    with Live(render(view), console=console, refresh_per_second=8, transient=False) as live:
        for event in client.stream_events(run_id):
            view.apply(event)
            live.update(render(view))
    console.line()
    final = client.get_run(run_id)
    view.status = final["status"]
    if final["status"] == "COMPLETED":
        console.print("[green]Run completed.[/] Output:")
        console.print_json(json.dumps(final.get("output_data"), default=str))
        return 0
    failed = view.failed() or [
        step for step in RunView.of(final, client.get_steps(run_id)).failed()
    ]
    console.print(f"[bold red]Run {final['status'].lower()}[/]")
    for step in failed:
        console.print(f"  step [bold]{step.id}[/] failed: {step.error or ''}")
    if final.get("error_message"):
        console.print(f"  {final['error_message']}")
    return 1


# -- runs -----------------------------------------------------------------------------------------


@click.group()
def runs() -> None:
    """List, inspect and steer runs."""


@runs.command("list")
@click.option("--status", help="e.g. RUNNING, COMPLETED, FAILED")
@click.option("--workflow", "workflow_id", help="A workflow id")
@click.option("--limit", default=20, show_default=True)
@output_option
@remote
def runs_list(client, status, workflow_id, limit: int, output: str) -> None:
    filters = {k: v for k, v in {"status": status, "workflow_id": workflow_id}.items() if v}
    found = client.list_runs(page_size=limit, **filters)["items"]
    if output == "json":
        _json(found)
    else:
        _table(found, ["id", "workflow_name", "status", "created_at", "completed_at"])


@runs.command("show")
@click.argument("run_id")
@output_option
@remote
def runs_show(client, run_id: str, output: str) -> None:
    found, steps = client.get_run(run_id), client.get_steps(run_id)
    if output == "json":
        _json({**found, "steps": steps})
        return
    click.echo(f"{found['id']}  {found.get('workflow_name')}  {found['status']}")
    _table(steps, ["step_id", "status", "attempt", "started_at", "completed_at", "error_message"])
    if found.get("output_data") is not None:
        click.echo(json.dumps(found["output_data"], indent=2, default=str))


@runs.command("logs")
@click.argument("run_id")
@click.option("--step", help="Only this step's lines")
@click.option("--follow", "-f", is_flag=True, help="Follow the run live until it finishes")
@output_option
@remote
def runs_logs(client, run_id: str, step: str | None, follow: bool, output: str) -> None:
    """A run's log: engine lines and the steps' output. With -f, the run's events from its
    first, as log lines, live until the run has finished."""
    if follow:
        for event in client.stream_events(run_id):
            if not step or event.get("task_id") == step:
                _log_line(_event_line(event), output)
        return
    logs = client.get_logs(run_id, step)
    if output == "json":
        _json(logs)
        return
    for line in logs["lines"]:
        _log_line(line, output)


def _event_line(event: dict[str, Any]) -> dict[str, Any]:
    data = event.get("data") or {}
    output = event.get("type") == "step_output"
    return {
        "timestamp": event.get("timestamp"),
        "step_id": event.get("task_id"),
        "stream": data.get("stream", "stdout") if output else "event",
        "message": data.get("line", "") if output else (event.get("message") or event["type"]),
    }


def _log_line(line: dict[str, Any], output: str) -> None:
    if output == "json":
        click.echo(json.dumps(line, default=str))
        return
    where = f" {line['step_id']}" if line.get("step_id") else ""
    click.echo(f"{line.get('timestamp', '')}{where} [{line.get('stream', '')}] {line['message']}")


def _steer(name: str, call: Callable[..., dict[str, Any]], help_text: str) -> None:
    @runs.command(name, help=help_text)
    @click.argument("run_id")
    @output_option
    @remote
    def steer(client, run_id: str, output: str) -> None:
        answered = call(client, run_id)
        if output == "json":
            _json(answered)
        else:
            click.echo(f"{answered.get('id', run_id)}  {answered.get('status')}")


_steer("pause", lambda c, r: c.pause_run(r), "Pause a run (running steps finish first).")
_steer("resume", lambda c, r: c.resume_run(r), "Resume a paused run.")
_steer("cancel", lambda c, r: c.cancel_run(r), "Cancel a run.")
_steer("retry", lambda c, r: c.retry_run(r), "Run a failed run's failed steps again.")


@runs.command("rerun")
@click.argument("run_id")
@click.option("--from", "step", required=True, help="The step to run again, with what follows")
@click.option("--input", "-i", "pairs", multiple=True, help="The step's new input: key=value")
@output_option
@remote
def runs_rerun(client, run_id: str, step: str, pairs, output: str) -> None:
    answered = client.rerun_from_step(run_id, step, _inputs(pairs, None) or None)
    if output == "json":
        _json(answered)
    else:
        click.echo(f"{answered.get('id', run_id)}  {answered.get('status')}")


# -- events ---------------------------------------------------------------------------------------


@click.command("events")
@click.option("--run", "run_id", required=True, help="The run whose events to follow")
@output_option
@remote
def events(client, run_id: str, output: str) -> None:
    """Print a run's events, past then live, until it has finished."""
    for event in client.stream_events(run_id):
        if output == "json":
            click.echo(json.dumps(event, default=str))
        else:
            step = f" {event['task_id']}" if event.get("task_id") else ""
            click.echo(f"{event.get('timestamp')} {event['type']}{step}  {event.get('message')}")


@click.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the shell completion script: eval "$(harmonia completion bash)"."""
    from click.shell_completion import get_completion_class

    root = ctx.find_root().command
    completer = get_completion_class(shell)(root, {}, "harmonia", "_HARMONIA_COMPLETE")
    click.echo(completer.source())


COMMANDS = (workflows, run, runs, events, completion)
