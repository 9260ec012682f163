"""Keep the processes of ``harmonia dev`` running, and stop them together.

A :class:`Service` is a named command (``worker``, ``beat``, ``api``, ``redis``). The
:class:`Supervisor` starts each one as a child in its own session, so the child and everything it
forks (gunicorn workers, Celery pool processes) form one process group. When a child exits while
the supervisor is not stopping — killed, crashed, or exited on its own — it logs one line, kills
what is left of the child's group (an orphaned gunicorn worker would keep the port) and starts
the service again after an exponential backoff; the other services keep running meanwhile.

Services are started in stages (``start(redis)``, later ``start(worker, beat, api)``) and
stopped in reverse: a stage's leaders get SIGTERM together, have ``stop_timeout`` seconds to
finish, then their whole groups get SIGKILL, before the previous stage (what they talk to while
shutting down) is stopped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Service:
    name: str
    argv: list[str]
    env: dict[str, str] | None = None
    quiet: bool = False  # discard its output (e.g. Redis, which writes its own log file)


@dataclass(frozen=True)
class Backoff:
    """Waits of ``first``, 2×, 4×… seconds between restarts, capped at ``cap``; a child that
    stayed up ``reset_after`` seconds starts again from ``first``."""

    first: float = 1.0
    cap: float = 30.0
    reset_after: float = 60.0

    def delay(self, failures: int) -> float:
        return min(self.cap, self.first * 2**failures)


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"died with {signal.Signals(-returncode).name}"
        except ValueError:
            return f"died with signal {-returncode}"
    return f"exited with code {returncode}"


def signal_group(pgid: int, signum: int) -> None:
    """Signal a whole process group; one that is already gone is fine (macOS answers EPERM for a
    group of zombies)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


class Child:
    """One service's process, and the state of its restarts."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0
        self.failures = 0  # consecutive quick deaths: the exponent of the backoff
        self.restart_at: float | None = None

    def spawn(self) -> None:
        output = subprocess.DEVNULL if self.service.quiet else None
        self.process = subprocess.Popen(
            self.service.argv,
            env=self.service.env,
            stdout=output,
            stderr=output,
            start_new_session=True,  # its own process group, and no terminal's Ctrl-C
        )
        self.started_at = time.monotonic()
        self.restart_at = None
        log.info("%s started (pid %d)", self.service.name, self.process.pid)

    def reap(self) -> int | None:
        """The exit status if the child has exited (its group is then killed), else None."""
        if self.process is None or self.process.poll() is None:
            return None
        signal_group(self.process.pid, signal.SIGKILL)
        return self.process.returncode

    def schedule_restart(self, returncode: int, backoff: Backoff) -> None:
        now = time.monotonic()
        if now - self.started_at >= backoff.reset_after:
            self.failures = 0
        delay = backoff.delay(self.failures)
        self.failures += 1
        self.restart_at = now + delay
        log.warning(
            "%s (pid %d) %s; restarting in %.1fs",
            self.service.name,
            self.process.pid,
            describe_exit(returncode),
            delay,
        )

    def terminate(self) -> None:
        """Ask the group's leader to shut down gracefully (a Celery worker then finishes its
        tasks; its pool processes would die at once on a SIGTERM of their own)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def wait_then_kill(self, deadline: float) -> None:
        """Wait for the leader until ``deadline``, then SIGKILL whatever is left of the group."""
        self.restart_at = None
        if self.process is None:
            return
        try:
            self.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in time; killing it", self.service.name)
        signal_group(self.process.pid, signal.SIGKILL)
        self.process.wait()


class Supervisor:
    """Start services, restart the ones that die, and stop them all on :meth:`stop`."""

    def __init__(
        self, backoff: Backoff | None = None, stop_timeout: float = 15.0, poll_interval: float = 0.2
    ) -> None:
        self.backoff = backoff or Backoff()
        self.stop_timeout = stop_timeout
        self.poll_interval = poll_interval
        self.stopping = False
        self._stages: list[list[Child]] = []

    def start(self, *services: Service) -> None:
        """Start ``services`` as one stage (stopped before the stages started earlier)."""
        if self.stopping:
            return
        stage = [Child(service) for service in services]
        self._stages.append(stage)
        for child in stage:
            child.spawn()

    def request_stop(self, *_signal_args: object) -> None:
        """Make :meth:`run` return; safe to call from a signal handler."""
        self.stopping = True

    def run(self) -> None:
        """Watch the children and restart the ones that die, until a stop is requested."""
        while not self.stopping:
            self.tend()
            time.sleep(self.poll_interval)

    def tend(self) -> None:
        """One look at every child: note the deaths, start the restarts that are due."""
        for child in self._children():
            if child.restart_at is None:
                returncode = child.reap()
                if returncode is not None:
                    child.schedule_restart(returncode, self.backoff)
            elif time.monotonic() >= child.restart_at and not self.stopping:
                child.spawn()

    def stop(self) -> None:
        """Stop every stage, the latest first; children waiting for a restart stay down."""
        self.stopping = True
        while self._stages:
            stage = self._stages.pop()
            for child in stage:
                child.terminate()
            deadline = time.monotonic() + self.stop_timeout
            for child in stage:
                child.wait_then_kill(deadline)

    def _children(self) -> Iterator[Child]:
        for stage in self._stages:
            yield from stage
