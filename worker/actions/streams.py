"""A running command's output, streamed: pipe readers, ``step_output`` events, ``::progress`` lines.

A command's output used to appear only once it ended. Now each pipe has a reader thread that keeps
the whole text — decoded and newline-translated exactly as ``communicate(text=True)`` returned it,
so the step's ``stdout``/``stderr`` do not change — and queues its complete lines. The action's own
thread calls ``flush()`` every ~100 ms to turn the queued lines into events, so a reader never waits
on the database and lines that arrive together become one event.

``step_output`` event data (one event per stream per flush; a single line is a batch of one)::

    {"stream": "stdout" | "stderr",
     "line": "<the batch's lines joined with \\n>",
     "lines": ["<line>", ...],
     "line_number": <1-based number of lines[0] within its stream>,
     "task_name": "<task>"}

A line is complete at ``\\n`` (``\\r\\n`` and a lone ``\\r`` count too, as in text mode) or at the
end of the stream. Order is kept within a stream, not between stdout and stderr of one flush.

Bounds, so a command printing 100k lines cannot flood the events table: an event holds at most
``EVENT_LINES`` lines and about ``EVENT_CHARS`` characters, and a line longer than ``LINE_CHARS`` is
cut in events (never in the step's stdout). A task sends at most ``MAX_EVENTS`` step_output events
and ``MAX_CHARS`` characters of lines; the last event is then a notice — ``"truncated": true``,
empty ``lines`` — and the rest of the output is only in the step's stdout/stderr.

Stdout lines ``::progress <fraction | percent%> [message]`` also call ``ctx.report_progress``
(see ``worker.actions.progress``); they stay in stdout and in the step_output events.
"""

from __future__ import annotations

import codecs
import io
import locale
import os
import subprocess
import threading
from typing import IO, Any

from worker.actions import ActionContext
from worker.actions.progress import Report, parse_progress_line

STREAMS = ("stdout", "stderr")
READ_BYTES = 65536
EVENT_LINES = 500
EVENT_CHARS = 64_000
LINE_CHARS = 4_000
MAX_EVENTS = 1000
MAX_CHARS = 1_000_000
MESSAGE_CHARS = 200


class _Reader(threading.Thread):
    """Reads one pipe to its end: keeps all its text, hands complete lines to the output."""

    def __init__(self, stream: str, pipe: IO[bytes], output: CommandOutput):
        super().__init__(name=f"cli-{stream}", daemon=True)
        self.stream = stream
        self.pipe = pipe
        self.output = output
        self.chunks: list[str] = []
        self._partial = ""  # the current line so far, kept only up to LINE_CHARS
        self._cut = 0  # characters of the current line beyond LINE_CHARS

    def run(self) -> None:
        # What Popen(text=True) used: the locale's encoding, "replace" errors, universal newlines.
        codec = codecs.getincrementaldecoder(locale.getpreferredencoding(False))(errors="replace")
        decoder = io.IncrementalNewlineDecoder(codec, translate=True)
        try:
            while True:
                data = os.read(self.pipe.fileno(), READ_BYTES)
                text = decoder.decode(data, final=not data)
                if text:
                    self.chunks.append(text)
                    self._split(text)
                if not data:
                    break
            if self._partial or self._cut:
                last = self._complete("")
                self.output.add(self.stream, [last], may_report=last.startswith("::progress"))
        except OSError:
            pass  # the pipe was closed under us: what was read is what there is
        finally:
            self.pipe.close()
            self.output.reader_done()

    def text(self) -> str:
        return "".join(self.chunks)

    def _split(self, text: str) -> None:
        complete, newline, rest = text.rpartition("\n")
        if newline:
            # Per-line work is what makes a firehose slow: skip it for lines no one will see.
            may_report = self.stream == "stdout" and "::progress" in self._partial + complete
            if self.output.capped and not may_report:
                self._partial, self._cut = "", 0
            else:
                lines = complete.split("\n")
                first = self._complete(lines[0])
                if max(map(len, lines)) > LINE_CHARS:
                    lines = [_clip(line) for line in lines]
                lines[0] = first
                self.output.add(self.stream, lines, may_report=may_report)
        self._grow(rest)

    def _grow(self, piece: str) -> None:
        room = max(LINE_CHARS - len(self._partial), 0)
        self._partial += piece[:room]
        self._cut += max(len(piece) - room, 0)

    def _complete(self, piece: str) -> str:
        self._grow(piece)
        line, cut = self._partial, self._cut
        self._partial, self._cut = "", 0
        return _clip(line, cut)


def _clip(line: str, cut: int = 0) -> str:
    """A line as events show it: at most LINE_CHARS, saying how much was cut."""
    if len(line) > LINE_CHARS:
        line, cut = line[:LINE_CHARS], cut + len(line) - LINE_CHARS
    return f"{line} … [{cut} more characters]" if cut else line


class CommandOutput:
    """The output of one running command: read by two threads, flushed by the action's thread."""

    def __init__(self, ctx: ActionContext, process: subprocess.Popen):
        self.ctx = ctx
        self._lock = threading.Lock()
        self._pending: dict[str, list[str]] = {stream: [] for stream in STREAMS}
        self._counts = dict.fromkeys(STREAMS, 0)  # lines received per stream
        self._reports: list[Report] = []
        self._events = 0
        self._chars = 0
        self._capped = False
        self._running = len(STREAMS)
        self._done = threading.Event()
        self._readers = {
            stream: _Reader(stream, getattr(process, stream), self) for stream in STREAMS
        }
        for reader in self._readers.values():
            reader.start()

    # -- called by the reader threads ---------------------------------------------------------

    @property
    def capped(self) -> bool:
        """True once live output stopped: readers then only look for ``::progress`` lines."""
        return self._capped

    def add(self, stream: str, lines: list[str], *, may_report: bool = False) -> None:
        reports = []
        if may_report:
            for line in lines:
                if line.startswith("::progress") and (report := parse_progress_line(line)):
                    reports.append(report)
        with self._lock:
            self._counts[stream] += len(lines)
            self._reports.extend(reports)
            if not self._capped:
                self._pending[stream].extend(lines)

    def reader_done(self) -> None:
        with self._lock:
            self._running -= 1
            if self._running == 0:
                self._done.set()

    # -- called by the action's thread --------------------------------------------------------

    def wait(self, seconds: float | None) -> bool:
        """True once both pipes reached their end (the command closed them, usually by exiting)."""
        return self._done.wait(seconds)

    def flush(self) -> None:
        """Send the lines and progress reports gathered since the last flush."""
        with self._lock:
            batches = {
                stream: (lines, self._counts[stream] - len(lines) + 1)
                for stream, lines in self._pending.items()
                if lines
            }
            self._pending = {stream: [] for stream in STREAMS}
            reports, self._reports = self._reports, []
        for stream, (lines, first) in batches.items():
            self._send(stream, lines, first)
        for report in reports:
            self.ctx.report_progress(report.fraction, report.message)
        self.ctx.flush_progress()

    def finish(self, timeout: float | None = None) -> tuple[str, str]:
        """Wait for the readers (up to ``timeout``), send what is left; the full stdout, stderr.

        A descendant that left the process group may hold a pipe open forever: after ``timeout``
        the output read so far is all the step keeps.
        """
        self.wait(timeout)
        self.flush()
        return self._readers["stdout"].text(), self._readers["stderr"].text()

    def _send(self, stream: str, lines: list[str], number: int) -> None:
        for batch in _batches(lines):
            if self._capped:
                return
            size = sum(len(line) for line in batch)
            if self._events >= MAX_EVENTS - 1 or self._chars + size > MAX_CHARS:
                self._cap(stream, number)
                return
            self.ctx.emit("step_output", *self._event(stream, batch, number))
            self._events += 1
            self._chars += size
            number += len(batch)

    def _event(self, stream: str, lines: list[str], number: int) -> tuple[dict[str, Any], str]:
        data = {
            "stream": stream,
            "line": "\n".join(lines),
            "lines": lines,
            "line_number": number,
            "task_name": self.ctx.label,
        }
        head = lines[0] if len(lines[0]) <= MESSAGE_CHARS else lines[0][:MESSAGE_CHARS] + " …"
        count = f" ({len(lines)} lines)" if len(lines) > 1 else ""
        return data, f"Task '{self.ctx.label}' {stream}{count}: {head}"

    def _cap(self, stream: str, number: int) -> None:
        with self._lock:
            self._capped = True
            self._pending = {s: [] for s in STREAMS}
        data = {
            "stream": stream,
            "line": "",
            "lines": [],
            "line_number": number,
            "task_name": self.ctx.label,
            "truncated": True,
        }
        self.ctx.emit(
            "step_output",
            data,
            f"Task '{self.ctx.label}': live output stops here; the rest is in the step's "
            f"stdout and stderr",
        )


def _batches(lines: list[str]):
    """Consecutive slices of ``lines``, each within EVENT_LINES lines and about EVENT_CHARS."""
    batch: list[str] = []
    size = 0
    for line in lines:
        if batch and (len(batch) >= EVENT_LINES or size + len(line) > EVENT_CHARS):
            yield batch
            batch, size = [], 0
        batch.append(line)
        size += len(line)
    if batch:
        yield batch
