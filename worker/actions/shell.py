"""``cli`` actions: run a command or a script in its own process group.

Output: ``{stdout, stderr, exit_code, result}`` where ``result`` is stdout stripped. A non-zero exit
is a failure; a timeout or a cancelled run terminates the whole process group (SIGTERM, then
SIGKILL). While the command runs, its lines are streamed as ``step_output`` events and its
``::progress`` lines become ``task_progress`` events (shapes, limits: ``worker.actions.streams``).

A stdout line ``::state key=value`` sets ``key`` in the run's custom state when the command
succeeds (``value`` is parsed as JSON when it is JSON, else kept as text), so later tasks read it as
``${state.key}``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import tempfile
import time
from typing import Any

from worker.actions import ActionCancelled, ActionContext, ActionError
from worker.actions.streams import CommandOutput

KILL_GRACE_SECONDS = 3.0
STATE_LINE = re.compile(r"^::state\s+([A-Za-z_][\w-]*)=(.*)$", re.MULTILINE)
# How often a running command flushes its output as events and checks for a cancel or timeout.
POLL_SECONDS = 0.1


def _terminate(process: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_SECONDS), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _exited(process: subprocess.Popen, streamed: CommandOutput) -> bool:
    """Wait up to about POLL_SECONDS; True once the command closed its pipes and exited."""
    if not streamed.wait(POLL_SECONDS):
        return False
    try:
        process.wait(timeout=POLL_SECONDS)
    except subprocess.TimeoutExpired:
        return False
    return True


def _run(
    argv: list[str] | str,
    params: dict[str, Any],
    ctx: ActionContext,
    *,
    shell: bool,
    default_timeout: float,
) -> dict[str, Any]:
    timeout = min(float(params.get("timeout") or default_timeout), ctx.timeout)
    env = {**os.environ, **(params.get("env") or {})}
    try:
        process = subprocess.Popen(
            argv,
            shell=shell,
            cwd=params.get("working_directory") or None,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,  # bytes: CommandOutput decodes them as text mode would
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except (OSError, ValueError) as exc:
        raise ActionError(f"cannot start command: {exc}", retryable=False) from exc
    streamed = CommandOutput(ctx, process)
    deadline = time.monotonic() + timeout
    try:
        while not _exited(process, streamed):
            streamed.flush()
            stopped = ctx.should_stop()
            if not stopped and time.monotonic() < deadline:
                continue
            _terminate(process)
            stdout, stderr = streamed.finish(timeout=KILL_GRACE_SECONDS)
            ctx.log("stdout", stdout)
            ctx.log("stderr", stderr)
            result = _output(stdout, stderr, None)
            if stopped:
                raise ActionCancelled("cancelled with the run; the command was stopped", result)
            raise ActionError(f"command timed out after {timeout:g}s and was killed", result)
        stdout, stderr = streamed.finish()
    except BaseException:
        _terminate(process)  # the task itself is being stopped: leave no orphans behind
        raise
    ctx.log("stdout", stdout)
    ctx.log("stderr", stderr)
    output = _output(stdout, stderr, process.returncode)
    if process.returncode != 0:
        tail = (stderr.strip() or stdout.strip())[-500:]
        raise ActionError(
            f"command exited with code {process.returncode}" + (f": {tail}" if tail else ""), output
        )
    _set_state(stdout, ctx)
    return output


def _set_state(stdout: str, ctx: ActionContext) -> None:
    if "::state" not in stdout:
        return
    for key, raw in STATE_LINE.findall(stdout):
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw.strip()
        ctx.set_state(key, value)


def _output(stdout: str, stderr: str, exit_code: int | None) -> dict[str, Any]:
    return {"stdout": stdout, "stderr": stderr, "exit_code": exit_code, "result": stdout.strip()}


def execute_command(params: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
    command = params["command"]
    shell = bool(params.get("shell"))
    if shell:
        argv: list[str] | str = command if isinstance(command, str) else shlex.join(command)
    else:
        argv = shlex.split(command) if isinstance(command, str) else list(command)
        if not argv:
            raise ActionError("empty command", retryable=False)
    return _run(argv, params, ctx, shell=shell, default_timeout=60)


def execute_script(params: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
    interpreter = shlex.split(params.get("interpreter") or "bash")
    with tempfile.NamedTemporaryFile("w", suffix=".script", delete=False) as handle:
        handle.write(params["script"])
        path = handle.name
    try:
        return _run([*interpreter, path], params, ctx, shell=False, default_timeout=300)
    finally:
        os.unlink(path)


CAPABILITIES = {"execute_command": execute_command, "execute_script": execute_script}
