"""Running an ingest worker as a process of its own (``python -m simulator ingest``).

The process talks to whoever started it through JSON lines on standard output when asked to
(``--jsonl``; the ``run`` command reads them): one ``ready`` line once subscribed, a
``progress`` line every ``progress_interval_s``, and a ``final`` line with the full snapshot
(counters and the latency histogram, mergeable across workers) after a graceful stop. Without
``--jsonl`` it prints one human line per interval to standard error instead. SIGTERM and
SIGINT stop it gracefully: flush batches, wait for the sink, disconnect.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from simulator.errors import SimulatorError
from simulator.ingest.worker import IngestWorker, WorkerSettings
from simulator.metrics.histogram import Histogram
from simulator.metrics.prometheus import MetricsServer
from simulator.metrics.timeseries import Totals
from simulator.sinks.sqlite import SqliteSink


def _emit(stream: TextIO, event: str, **data: Any) -> None:
    stream.write(json.dumps({"event": event, **data}, separators=(",", ":")) + "\n")
    stream.flush()


def _totals(snap: dict[str, Any], t_s: float) -> Totals:
    """The worker's snapshot as the cumulative totals the Prometheus collector reads."""
    return Totals(
        t_s=t_s,
        phase="ingesting",
        received=snap["received"],
        ingested=snap["unique"],
        missing=snap["missing"],
        duplicated=snap["duplicated"],
        out_of_order=snap["out_of_order"],
        malformed=snap["malformed"],
        latency_us=Histogram.from_dict(snap["latency_us"]),
    )


def _human_line(elapsed: float, snap: dict[str, Any], rate: float) -> str:
    latency = Histogram.from_dict(snap["latency_us"])
    p99_ms = latency.percentile(99.0) / 1000 if latency.count else 0.0
    return (
        f"[ingest {elapsed:7.1f}s] received {snap['received']:,} ({rate:,.0f} msg/s)  "
        f"gaps {snap['missing']:,}  dup {snap['duplicated']:,}  ooo {snap['out_of_order']:,}  "
        f"malformed {snap['malformed']:,}  p99 {p99_ms:.1f} ms  rows {snap['rows_written']:,}"
    )


async def serve(
    settings: WorkerSettings,
    sqlite_path: Path,
    *,
    duration_s: float | None = None,
    jsonl: bool = False,
    progress_interval_s: float = 1.0,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    wall_ns: Callable[[], int] = time.time_ns,
    metrics_port: int | None = None,
) -> dict[str, Any]:
    """Run one worker until SIGTERM/SIGINT (or ``duration_s``); return its final snapshot.

    With ``metrics_port``, Prometheus metrics (role ``ingest``) are served for the worker's
    lifetime, from a snapshot refreshed once per progress interval.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    sink = SqliteSink(sqlite_path)
    worker = IngestWorker(settings, sink, loop=loop, wall_ns=wall_ns)
    if sink.rows_before:
        worker.notes.append(
            f"{sqlite_path} already held {sink.rows_before:,} telemetry rows from earlier runs; "
            f"this run's rows are added after them (rowid > {sink.rows_before})"
        )
    try:
        await worker.start()
    except SimulatorError as exc:
        if jsonl:
            _emit(out, "error", message=str(exc))
        await worker.stop()
        raise
    if jsonl:
        _emit(out, "ready", notes=worker.notes)
    for note in worker.notes:
        err.write(f"ingest: note: {note}\n")
    started = loop.time()
    latest: list[Totals] = []
    server: MetricsServer | None = None
    if metrics_port is not None:
        server = MetricsServer(
            lambda: latest[-1] if latest else None,
            metrics_port,
            role="ingest",
            info={"broker": f"{settings.host}:{settings.port}", "client_id": settings.client_id},
        )
        server.start()
        err.write(f"ingest: metrics on {server.url}\n")
    deadline = started + duration_s if duration_s else None
    last_received = 0
    stop_wait: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    try:
        while not stop.is_set():
            timeout = progress_interval_s
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
                _emit(out, "progress", **snap)
            else:
                rate = (snap["received"] - last_received) / progress_interval_s
                err.write(_human_line(loop.time() - started, snap, rate) + "\n")
            last_received = snap["received"]
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
        _emit(out, "final", **final)
    return final
