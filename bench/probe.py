"""The probe: what each task execution costs a worker process, phase by phase.

The bench loads it into a worker with ``--include bench.probe`` and arms it with
``HARMONIA_PROBE=<directory>`` (read once, at import; without it this module connects nothing and
the markers of ``app.phases`` stay the shared no-op they are in production). Each pool process then
records every Celery task it runs, from ``task_prerun`` to ``task_postrun``:

- the wall time and the process's CPU time of each phase the code marks (``app.phases.phase``),
  without the phases nested in it or the probe's own bookkeeping; time outside every marker goes
  to ``celery``: mostly Celery sending the chain's next message and storing the result once the
  task has returned;
- the SQL statements, BEGINs, COMMITs and ROLLBACKs on the runtime's engine (``rt.db``), each
  statement labelled by verb and tables (``UPDATE task_executions (+runs) FOR SHARE RETURNING``)
  with its latency (a BEGIN's is in the next statement's: the driver sends it first);
- the round trips and commands of Harmonia's own Redis client (``rt.redis``; a pipeline is one
  round trip): not the broker's or the result backend's, which have their own connections and
  are bare Celery's cost as much as Harmonia's;
- the task messages it publishes, their bytes (the JSON body kombu sends) and latency, and the
  bytes of the event payloads it publishes.

A record is one JSON line appended to ``<directory>/probe-<pid>.jsonl`` once its task has ended,
for ``bench/breakdown.py`` to read back by run id.
"""

from __future__ import annotations

import json
import os
import re
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from celery.signals import after_task_publish, before_task_publish, task_postrun, task_prerun
from kombu.serialization import dumps
from sqlalchemy import event

from app import phases

ENV = "HARMONIA_PROBE"
ROOT = "celery"
PATTERN = "probe-*.jsonl"
# A phase's counters (besides its wall time ``s``, CPU time ``cpu`` and operations ``ops``).
COUNTS = (
    "sql",
    "begin",
    "commit",
    "rollback",
    "redis_trips",
    "redis_cmds",
    "messages",
    "message_bytes",
    "publishes",
    "event_bytes",
)
_TABLE = re.compile(r"[()]|(?<!FOR )\b(?:FROM|JOIN|INTO|UPDATE)\s+(\w+)", re.IGNORECASE)
_NOT_TABLES = {"SET", "OF", "SELECT"}
_OFF = nullcontext()


def sql_label(statement: str) -> str:
    """``VERB main-table (+tables of subqueries) FOR SHARE|FOR UPDATE RETURNING``."""
    verb = statement.split(None, 1)[0].upper()
    main: list[str] = []
    nested: list[str] = []
    depth = 0
    for match in _TABLE.finditer(statement):
        token, table = match.group(0), match.group(1)
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        elif table and table.upper() not in _NOT_TABLES:
            (nested if depth else main).append(table)
    tables = list(dict.fromkeys(main))
    others = [t for t in dict.fromkeys(nested) if t not in tables]
    label = " ".join([verb, *tables])
    if others:
        label += f" (+{', '.join(others)})"
    upper = statement.upper()
    for clause in ("FOR SHARE", "FOR UPDATE", "RETURNING"):
        if clause in upper:
            label += f" {clause}"
    return label


class _Open:
    """A phase being timed: where its counts go, when it began (wall clock and CPU), and the
    time that is not its own (phases nested in it, the probe's bookkeeping)."""

    __slots__ = ("path", "stats", "started", "cpu_started", "excluded", "cpu_excluded")

    def __init__(self, path: str, stats: dict[str, Any]):
        self.path = path
        self.stats = stats
        self.started = time.perf_counter()
        self.cpu_started = time.process_time()
        self.excluded = self.cpu_excluded = 0.0


class _Marker:
    __slots__ = ("probe", "name")

    def __init__(self, probe: Probe, name: str):
        self.probe = probe
        self.name = name

    def __enter__(self) -> None:
        self.probe.enter(self.name)

    def __exit__(self, *_exc) -> None:
        self.probe.leave()


class Probe:
    """One pool process's recorder. Hooks attach on the process's first task, when the
    runtime it uses exists (``worker.tasks`` rebuilds it in ``worker_process_init``)."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.pid: int | None = None
        self.out = None
        self.record: dict[str, Any] | None = None
        self.open: list[_Open] = []
        self.labels: dict[str, str] = {}
        self.sending: float | None = None  # when the message being published was handed over

    # --- a task's record ------------------------------------------------------------------------

    def task_started(self, task=None, args=None, **_kwargs) -> None:
        if self.pid != os.getpid():
            self._attach()
        self.record = {"task": task.name, "run": args[0] if args else None, "phases": {}}
        self.open = []
        self.enter(ROOT)

    def task_ended(self, retval=None, state=None, **_kwargs) -> None:
        record = self.record
        if record is None:
            return
        while len(self.open) > 1:  # only an escaped BaseException leaves a phase open
            self.leave()
        record["s"], record["cpu"] = self.leave()
        record["state"] = state
        record["result"] = retval if isinstance(retval, str) else None
        self.record = None
        self.out.write(json.dumps(record, separators=(",", ":")) + "\n")

    def marker(self, name: str) -> Any:
        return _Marker(self, name) if self.record is not None else _OFF

    def enter(self, name: str) -> None:
        parent = self.open[-1].path if self.open else None
        path = name if parent in (None, ROOT) else f"{parent}/{name}"
        stats = self.record["phases"].setdefault(path, {"s": 0.0, "cpu": 0.0})
        self.open.append(_Open(path, stats))

    def leave(self) -> tuple[float, float]:
        """Close the innermost phase; its whole wall and CPU time, nested phases included."""
        done = self.open.pop()
        elapsed = time.perf_counter() - done.started
        cpu = time.process_time() - done.cpu_started
        done.stats["s"] += elapsed - done.excluded
        done.stats["cpu"] += max(0.0, cpu - done.cpu_excluded)
        if self.open:
            self.open[-1].excluded += elapsed
            self.open[-1].cpu_excluded += cpu
        return elapsed, cpu

    # --- counting -------------------------------------------------------------------------------

    def _count(self, since: float, op: str | None, seconds: float, **counts: int) -> None:
        """Add to the innermost phase; its time from ``since`` (the probe's bookkeeping, all of it
        CPU) is not the phase's own. ``op`` names one operation that took ``seconds``."""
        current = self.open[-1]
        stats = current.stats
        for key, value in counts.items():
            stats[key] = stats.get(key, 0) + value
        if op is not None:
            entry = stats.setdefault("ops", {}).setdefault(op, [0, 0.0])
            entry[0] += 1
            entry[1] += seconds
        bookkeeping = time.perf_counter() - since
        current.excluded += bookkeeping
        current.cpu_excluded += bookkeeping

    def _sql_started(self, conn, *_args) -> None:
        conn.info["probe_started"] = time.perf_counter()

    def _sql_ended(self, conn, _cursor, statement: str, *_args) -> None:
        ended = time.perf_counter()
        started = conn.info.pop("probe_started", ended)
        if self.record is None:
            return
        label = self.labels.get(statement)
        if label is None:
            label = self.labels[statement] = sql_label(statement)
        self._count(ended, label, ended - started, sql=1)

    def _transaction(self, kind: str, seconds: float = 0.0, conn=None) -> None:
        """A BEGIN or ROLLBACK on an autocommit connection (``app/services/attempts.py``) is
        SQLAlchemy's bookkeeping only: the driver sends nothing."""
        if conn is not None and getattr(conn.connection.dbapi_connection, "autocommit", False):
            return
        if self.record is not None:
            op = "BEGIN (sent with the next statement)" if kind == "begin" else kind.upper()
            self._count(time.perf_counter(), op, seconds, **{kind: 1})

    def _redis(self, commands: list[tuple], seconds: float, ended: float, pipeline: bool) -> None:
        names = [str(args[0]).upper() for args in commands]
        payloads = [len(args[2]) for args in commands if str(args[0]).upper() == "PUBLISH"]
        if pipeline:
            tally = {name: names.count(name) for name in dict.fromkeys(names)}
            op = "redis pipeline " + " ".join(f"{name}×{n}" for name, n in tally.items())
        else:
            op = f"redis {names[0]}"
        self._count(
            ended,
            op,
            seconds,
            redis_trips=1,
            redis_cmds=len(commands),
            publishes=len(payloads),
            event_bytes=sum(payloads),
        )

    def _sending(self, **_kwargs) -> None:
        self.sending = time.perf_counter()

    def _sent(self, sender=None, body=None, **_kwargs) -> None:
        ended = time.perf_counter()
        if self.record is None or self.sending is None:
            return
        _type, _encoding, data = dumps(body, serializer="json")
        seconds, self.sending = ended - self.sending, None
        self._count(ended, f"send {sender}", seconds, messages=1, message_bytes=len(data))

    # --- hooks ------------------------------------------------------------------------------------

    def _attach(self) -> None:
        from worker.runtime import get_runtime

        rt = get_runtime()
        for engine in filter(None, (rt.db.engine, rt.db.statements)):
            event.listen(engine, "before_cursor_execute", self._sql_started)
            event.listen(engine, "after_cursor_execute", self._sql_ended)
            event.listen(engine, "begin", lambda conn: self._transaction("begin", conn=conn))
            event.listen(engine, "rollback", lambda conn: self._transaction("rollback", conn=conn))
            self._time_commits(engine.dialect)
        self._wrap_statements(rt.db)
        self._wrap_redis(rt.redis)
        self.pid = os.getpid()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.out = open(self.directory / f"probe-{self.pid}.jsonl", "a", buffering=1)  # noqa: SIM115

    def _time_commits(self, dialect) -> None:
        """COMMIT has no "after" event: time the dialect's call (on this engine's instance; the
        pool never commits, so every call is a unit of work ending)."""
        do_commit = dialect.do_commit

        def timed(dbapi_connection) -> None:
            started = time.perf_counter()
            try:
                do_commit(dbapi_connection)
            finally:
                self._transaction("commit", time.perf_counter() - started)

        dialect.do_commit = timed

    def _wrap_statements(self, db) -> None:
        """``Database.first`` sends its statement through psycopg, where SQLAlchemy's events do
        not see it: count it here (on this instance)."""
        first = db.first

        def counted(statement, params):
            started = time.perf_counter()
            try:
                return first(statement, params)
            finally:
                ended = time.perf_counter()
                if self.record is not None:
                    label = self.labels.get(statement.text)
                    if label is None:
                        label = self.labels[statement.text] = sql_label(statement.text)
                    self._count(ended, label, ended - started, sql=1)

        db.first = counted

    def _wrap_redis(self, client) -> None:
        """Count on this client only: its commands and pipelines go through these two methods
        (bound on the instance, so the broker's and the result backend's clients are untouched)."""
        execute_command, make_pipeline = client.execute_command, client.pipeline

        def timed(send, commands: list[tuple], pipeline: bool) -> Any:
            if self.record is None:
                return send()
            started = time.perf_counter()
            try:
                return send()
            finally:
                ended = time.perf_counter()
                self._redis(commands, ended - started, ended, pipeline)

        def command(*args, **options):
            return timed(lambda: execute_command(*args, **options), [args], False)

        def pipeline(*args, **kwargs):
            pipe = make_pipeline(*args, **kwargs)
            execute = pipe.execute

            def execute_counted(raise_on_error: bool = True):
                commands = [args for args, _options in pipe.command_stack]
                return timed(lambda: execute(raise_on_error), commands, True)

            pipe.execute = execute_counted
            return pipe

        client.execute_command = command
        client.pipeline = pipeline


def _arm() -> None:
    directory = os.environ.get(ENV)
    if not directory:
        return
    probe = Probe(Path(directory))
    task_prerun.connect(probe.task_started, weak=False)
    task_postrun.connect(probe.task_ended, weak=False)
    before_task_publish.connect(probe._sending, weak=False)
    after_task_publish.connect(probe._sent, weak=False)
    phases.listen(probe.marker)


_arm()
