"""Starting an ingest worker as a child process and reading its JSON lines.

``run`` keeps ingest in a process of its own, so decoding and sink writes use the second
core instead of competing with the devices for the first. The child is given its
:class:`~simulator.ingest.settings.WorkerSettings` whole, as JSON on its standard input, and
speaks the line protocol of :mod:`simulator.ingest.service`; this side keeps the latest
progress for the live view and returns the final snapshot after a graceful stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Callable
from typing import Any

from simulator.errors import IngestChildError, exit_reason
from simulator.ingest.control import Control
from simulator.ingest.settings import WorkerSettings
from simulator.metrics.ingest import IngestSnapshot

STDERR_TAIL_LINES = 20


COMMAND = (sys.executable, "-m", "simulator", "ingest", "--settings-stdin", "--jsonl")
"""How ``run`` starts a worker; everything else it needs comes on its standard input."""

LINE_LIMIT = 16 * 2**20
"""Longest line read from the worker: a progress line carries histograms (latency, first
telemetry, and one latency per fleet group of a mixed fleet), 15 KB each when well filled,
well past asyncio's 64 KiB default."""


async def wait_for_progress(
    progressed: asyncio.Event,
    done: Callable[[], bool],
    gone: Callable[[], bool],
    timeout_s: float,
) -> bool:
    """Wait until ``done()``, looking again each time ``progressed`` is set; False once
    ``timeout_s`` has passed or ``gone()`` (a worker exited: nothing more will come)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not done():
        remaining = deadline - loop.time()
        if remaining <= 0 or gone():
            return False
        progressed.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(remaining):
                await progressed.wait()
    return True


class IngestChild:
    """One ingest worker process and the latest thing it said."""

    def __init__(
        self, settings: WorkerSettings, *, progressed: asyncio.Event | None = None
    ) -> None:
        """A worker to be started with ``settings``; ``progressed`` (shared by a pool) is set
        whenever it says something new."""
        self.settings = settings
        self.args = list(COMMAND)
        self.progress: IngestSnapshot | None = None
        """The latest figures the child sent (None before its first progress line)."""
        self.final: IngestSnapshot | None = None
        self.error: str | None = None
        self.echoed: dict[str, Any] | None = None
        """The settings the child says it was given (passwords masked), its first line."""
        self.run_id = settings.run_id
        self._proc: asyncio.subprocess.Process | None = None
        self._ready: asyncio.Future[list[str]] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._stderr: list[str] = []
        self._stderr_reader: asyncio.Task[None] | None = None
        self.progressed = progressed if progressed is not None else asyncio.Event()
        """Set whenever the child says something new (wait on it with :func:`wait_for_progress`)."""
        self.gone = False
        """The child closed its output: it has exited, or is about to."""
        self.commit_delay_s = 0.0
        """The delay before each batch's commit the child is told at start (a restart in
        the middle of a ``slow_sink`` fault), and since then by :meth:`tell`."""

    async def start(self, timeout_s: float = 20.0) -> list[str]:
        """Start the child and wait until it has subscribed; return its notes."""
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        self._proc = await asyncio.create_subprocess_exec(
            *self.args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=LINE_LIMIT,
        )
        stdin = self._proc.stdin
        assert stdin is not None
        # One line; the pipe stays open for instructions (see simulator.ingest.control).
        stdin.write(self.settings.to_json().encode() + b"\n")
        if self.commit_delay_s:
            stdin.write(Control(self.commit_delay_s).to_line().encode())
        self._reader = asyncio.create_task(self._read_stdout())
        self._stderr_reader = asyncio.create_task(self._read_stderr())
        try:
            async with asyncio.timeout(timeout_s):
                return await self._ready
        except TimeoutError:
            await self.kill()
            raise IngestChildError(
                f"ingest worker did not subscribe within {timeout_s:.0f} s{self._stderr_tail()}"
            ) from None

    def tell(self, control: Control) -> None:
        """Send ``control`` to the running child (nothing once it has gone)."""
        self.commit_delay_s = control.commit_delay_s
        proc = self._proc
        if proc is None or proc.returncode is not None or proc.stdin is None:
            return
        if not proc.stdin.is_closing():
            proc.stdin.write(control.to_line().encode())

    def _close_stdin(self) -> None:
        proc = self._proc
        if proc is not None and proc.stdin is not None:
            proc.stdin.close()

    @property
    def pid(self) -> int | None:
        """The child's process id once started."""
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        """The child's exit status once it has exited (None while it runs)."""
        return self._proc.returncode if self._proc is not None else None

    async def exited(self) -> int:
        """Wait until the child has exited (whoever stopped it); its exit status."""
        proc = self._proc
        if proc is None:
            raise IngestChildError("ingest worker was never started")
        status = await proc.wait()
        self._close_stdin()
        reader = self._reader
        if reader is not None and not reader.done():
            # Its last lines, read to the end: the error it said, if it said one.
            await asyncio.wait({reader})
        return status

    @property
    def exit_reason(self) -> str:
        """Why the child ended, in words: the signal that killed it or its exit status, and
        the error it said; empty while it runs."""
        status = self.returncode
        if status is None:
            return ""
        said = exit_reason(status)
        return f"{said}: {self.error}" if self.error else said

    @property
    def committed(self) -> int:
        """Distinct messages whose rows the child has committed so far."""
        return self.progress.committed_unique if self.progress is not None else 0

    @property
    def resolved(self) -> int:
        """Distinct messages the child has committed or given up on (their fate is known)."""
        return self.progress.resolved_unique if self.progress is not None else 0

    @property
    def deaths_left(self) -> int:
        """Devices the child has heard leave on purpose (with a death topic)."""
        deaths = self.progress.deaths if self.progress is not None else None
        return deaths.get("left", 0) if deaths is not None else 0

    async def stop(self, timeout_s: float = 30.0) -> IngestSnapshot:
        """Ask the child to stop (SIGTERM), wait for its final snapshot and its exit."""
        proc = self._proc
        if proc is None:
            raise IngestChildError("ingest worker was never started")
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        self._close_stdin()
        try:
            async with asyncio.timeout(timeout_s):
                await proc.wait()
                if self._reader is not None:
                    await self._reader
                if self._stderr_reader is not None:
                    await self._stderr_reader
        except TimeoutError:
            await self.kill()
            raise IngestChildError(
                f"ingest worker did not stop within {timeout_s:.0f} s{self._stderr_tail()}"
            ) from None
        if self.final is None:
            raise IngestChildError(
                f"ingest worker exited with status {proc.returncode} without a final report"
                f"{': ' + self.error if self.error else ''}{self._stderr_tail()}"
            )
        return self.final

    async def kill(self) -> None:
        """Stop the child at once (our own pid only) and reap it."""
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        self._close_stdin()
        for task in (self._reader, self._stderr_reader):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _stderr_tail(self) -> str:
        if not self._stderr:
            return ""
        return "; its last output:\n  " + "\n  ".join(self._stderr[-STDERR_TAIL_LINES:])

    async def _read_stdout(self) -> None:
        assert self._proc is not None
        assert self._proc.stdout is not None
        async for raw in self._proc.stdout:
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            kind = message.pop("event", None)
            if kind == "progress":
                self.progress = IngestSnapshot.from_dict(message)
                self.progressed.set()
            elif kind == "settings":
                self.echoed = message.get("settings")
            elif kind == "ready":
                self.run_id = str(message.get("run_id", self.run_id))
                self._resolve_ready(list(message.get("notes", [])))
            elif kind == "final":
                self.final = self.progress = IngestSnapshot.from_dict(message)
                self.progressed.set()
            elif kind == "error":
                self.error = str(message.get("message"))
                self._fail_ready(self.error)
        self._fail_ready(f"ingest worker exited before subscribing{self._stderr_tail()}")
        self.gone = True
        self.progressed.set()  # whoever waits on progress learns the child is gone

    async def _read_stderr(self) -> None:
        assert self._proc is not None
        assert self._proc.stderr is not None
        async for raw in self._proc.stderr:
            self._stderr.append(raw.decode(errors="replace").rstrip())
            del self._stderr[:-STDERR_TAIL_LINES]

    def _resolve_ready(self, notes: list[str]) -> None:
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(notes)

    def _fail_ready(self, message: str) -> None:
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(IngestChildError(message))
