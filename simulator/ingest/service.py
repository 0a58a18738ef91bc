"""Running an ingest worker as a process of its own (``python -m simulator ingest``).

The process talks to whoever started it through JSON lines on standard output when asked to
(``--jsonl``; the ``run`` command reads them): a ``settings`` line first (the settings it was
given, passwords masked), one ``ready`` line once subscribed (with the run id its rows carry),
a ``progress`` line
every ``progress_interval_s``, and a ``final`` line with the full
:class:`~simulator.metrics.ingest.IngestSnapshot` (counters and the latency histogram,
mergeable across workers) after a graceful stop. Without ``--jsonl`` it prints one human line
per interval to standard error instead. SIGTERM stops it gracefully: flush batches, wait until
the sink has committed them or given them up, disconnect; so does SIGINT, unless a run started
it (the run, which hears a Ctrl-C too, stops it once it has drained).

A worker started in place of one that died (``resume_from_sink``) first reads what the run has
stored of its devices and counts on from there, before it subscribes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import os
import select
import signal
import stat
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from simulator.errors import SimulatorError
from simulator.ingest.control import Control, follow
from simulator.ingest.settings import WorkerSettings
from simulator.ingest.worker import IngestWorker
from simulator.metrics.ingest import IngestSnapshot
from simulator.metrics.prometheus import MetricsServer
from simulator.metrics.timeseries import Totals
from simulator.sinks.url import new_run_id, open_sink, parse_sink_url


class JsonLines:
    """The worker's JSON lines to whoever started it, on ``out``.

    Ingest must never wait on its reader: the run's process may be too busy publishing to
    read a pipe whose 64 KiB fill with two or three progress lines (each carries the latency
    histogram), and a blocked write would stall the worker's event loop, and so ingest, for as
    long. On a pipe the lines are written without blocking; a progress line is cumulative, so
    one that finds the last still unread is skipped (the next supersedes it), while every other
    line (settings, ready, error, final) is written whole, waiting if it must.
    """

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._fd: int | None = None
        self._pending = b""
        try:
            fd = out.fileno()
            if stat.S_ISFIFO(os.fstat(fd).st_mode):
                out.flush()
                os.set_blocking(fd, False)
                self._fd = fd
        except (OSError, ValueError, io.UnsupportedOperation):
            pass  # not a pipe (a file, a test's StringIO): plain writes
        self.skipped = 0
        """Progress lines not written because the reader had not taken the last one."""

    def emit(self, event: str, **data: Any) -> None:
        """Write one line whole."""
        line = json.dumps({"event": event, **data}, separators=(",", ":")) + "\n"
        if self._fd is None:
            self._out.write(line)
            self._out.flush()
            return
        self._pending += line.encode()
        self._write(wait=True)

    def progress(self, **data: Any) -> None:
        """Write a progress line, unless the reader has not taken the previous one yet."""
        if self._fd is not None and self._pending:
            self._write(wait=False)
            if self._pending:
                self.skipped += 1
                return
        if self._fd is None:
            self.emit("progress", **data)
            return
        self._pending = (
            json.dumps({"event": "progress", **data}, separators=(",", ":")) + "\n"
        ).encode()
        self._write(wait=False)

    def _write(self, *, wait: bool) -> None:
        fd = self._fd
        assert fd is not None
        while self._pending:
            try:
                written = os.write(fd, self._pending)
            except BlockingIOError:
                if not wait:
                    return
                select.select([], [fd], [])
                continue
            self._pending = self._pending[written:]


def _totals(snap: IngestSnapshot, t_s: float) -> Totals:
    """The worker's snapshot as the cumulative totals the Prometheus collector reads."""
    totals = Totals(t_s=t_s, phase="ingesting")
    totals.take_ingest(snap)
    return totals


def _human_line(elapsed: float, snap: IngestSnapshot, rate: float) -> str:
    latency = snap.latency_us
    p99_ms = latency.percentile(99.0) / 1000 if latency.count else 0.0
    failed = f"  FAILED rows {snap.failed_rows:,}" if snap.failed_rows else ""
    return (
        f"[ingest {elapsed:7.1f}s] received {snap.received:,} ({rate:,.0f} msg/s)  "
        f"gaps {snap.missing:,}  dup {snap.duplicated:,}  ooo {snap.out_of_order:,}  "
        f"malformed {snap.malformed:,}  p99 {p99_ms:.1f} ms  "
        f"committed rows {snap.committed_rows:,}{failed}"
    )


def public_settings(settings: WorkerSettings) -> dict[str, Any]:
    """The settings as the worker says it got them: passwords masked, in broker and sink."""
    data: dict[str, Any] = json.loads(settings.to_json())
    if settings.password is not None:
        data["password"] = "***"
    data["sink"] = parse_sink_url(settings.sink).display()
    return data


async def serve(
    settings: WorkerSettings,
    *,
    duration_s: float | None = None,
    jsonl: bool = False,
    progress_interval_s: float = 1.0,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    wall_ns: Callable[[], int] = time.time_ns,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
    control: TextIO | None = None,
) -> IngestSnapshot:
    """Run one worker until SIGTERM/SIGINT (or ``duration_s``); return its final snapshot.

    With ``metrics_port``, Prometheus metrics (role ``ingest``) are served on
    ``metrics_host`` for the worker's lifetime, from a snapshot refreshed once per progress
    interval. With ``control`` (the rest of standard input, for ``run``), the worker follows
    the instructions written there (:mod:`.control`).
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    # Started by a run (``control``), it ignores Ctrl-C, which reaches the terminal's whole
    # process group: the run hears it too, drains, and then stops its workers (SIGTERM).
    loop.add_signal_handler(signal.SIGINT, (lambda: None) if control is not None else stop.set)
    if not settings.run_id:
        settings = dataclasses.replace(settings, run_id=new_run_id("ingest", wall_ns()))
    lines = JsonLines(out)
    if jsonl:
        # First of all, so whoever started us can check every setting arrived as meant.
        lines.emit("settings", settings=public_settings(settings))
    target = parse_sink_url(settings.sink)
    try:
        sink = await asyncio.to_thread(
            open_sink, target, settings.run_id, busy_timeout_s=settings.sink_busy_timeout_s
        )
    except SimulatorError as exc:
        if jsonl:
            lines.emit("error", message=str(exc))
        raise
    worker = IngestWorker(settings, sink, loop=loop, wall_ns=wall_ns, sink_display=target.display())
    if sink.rows_before and not settings.resume_from_sink:
        worker.notes.append(
            f"{target.display()} already held {sink.rows_before:,} telemetry rows of other "
            f"runs; this run's rows are those with run_id = {settings.run_id!r}"
        )
    try:
        if settings.resume_from_sink:
            # Before subscribing: the broker's first message must meet the run's figures.
            await asyncio.to_thread(lambda: worker.resume(sink.read_stored()))
        await worker.start()
    except SimulatorError as exc:
        if jsonl:
            lines.emit("error", message=str(exc))
        await worker.stop()
        raise
    if jsonl:
        lines.emit("ready", notes=worker.notes, run_id=settings.run_id)
    for note in worker.notes:
        err.write(f"ingest: note: {note}\n")
    if control is not None:

        def apply(instruction: Control) -> None:
            worker.writer.commit_delay_s = instruction.commit_delay_s

        def refuse(said: str) -> None:
            err.write(f"ingest: ignored: {said}\n")

        follow(control, loop, apply, refuse)
    started = loop.time()
    latest: list[Totals] = []
    server: MetricsServer | None = None
    if metrics_port is not None:
        server = MetricsServer(
            lambda: latest[-1] if latest else None,
            metrics_port,
            metrics_host,
            role="ingest",
            info={"broker": f"{settings.host}:{settings.port}", "client_id": settings.client_id},
        )
        server.start()
        err.write(f"ingest: metrics on {server.url}\n")
    deadline = started + duration_s if duration_s else None
    last_received = 0
    ticks = 0
    stop_wait: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    try:
        while not stop.is_set():
            # Drift-free: the n-th line is due at started + n * interval, however long the
            # last one took.
            ticks += 1
            timeout = max(0.0, started + ticks * progress_interval_s - loop.time())
            if deadline is not None:
                timeout = min(timeout, max(0.0, deadline - loop.time()))
            lost: asyncio.Future[Any] = worker.lost
            done, _ = await asyncio.wait({stop_wait, lost}, timeout=timeout)
            if lost in done:
                err.write(f"ingest: lost the broker connection ({lost.result()}); reconnecting\n")
                if not await worker.reconnect(stop):
                    break
                err.write("ingest: reconnected and subscribed again\n")
                continue
            snap = worker.snapshot()
            if server is not None:
                latest[:] = [_totals(snap, loop.time() - started)]
            if jsonl:
                lines.progress(**snap.to_dict())
            else:
                rate = (snap.received - last_received) / progress_interval_s
                err.write(_human_line(loop.time() - started, snap, rate) + "\n")
            last_received = snap.received
            if deadline is not None and loop.time() >= deadline:
                break
    finally:
        stop_wait.cancel()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await worker.stop()
        if server is not None:
            server.stop()
    final = worker.snapshot()
    if jsonl:
        lines.emit("final", **final.to_dict())
    return final
