"""Running an ingest worker as a process of its own (``python -m simulator ingest``).

The process talks to whoever started it through JSON lines on standard output when asked to
(``--jsonl``; the ``run`` command reads them): a ``settings`` line first (the settings it was
given, passwords masked), one ``ready`` line once subscribed (with the run id its rows carry),
a ``progress`` line
every ``progress_interval_s``, and a ``final`` line with the full
:class:`~simulator.metrics.ingest.IngestSnapshot` (counters and the latency histogram,
mergeable across workers) after a graceful stop. Without ``--jsonl`` it prints one human line
per interval to standard error instead. SIGTERM and SIGINT stop it gracefully: flush batches,
wait until the sink has committed them or given them up, disconnect.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import signal
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from simulator.errors import SimulatorError
from simulator.ingest.settings import WorkerSettings
from simulator.ingest.worker import IngestWorker
from simulator.metrics.ingest import IngestSnapshot
from simulator.metrics.prometheus import MetricsServer
from simulator.metrics.timeseries import Totals
from simulator.sinks.url import new_run_id, open_sink, parse_sink_url


def _emit(stream: TextIO, event: str, **data: Any) -> None:
    stream.write(json.dumps({"event": event, **data}, separators=(",", ":")) + "\n")
    stream.flush()


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
) -> IngestSnapshot:
    """Run one worker until SIGTERM/SIGINT (or ``duration_s``); return its final snapshot.

    With ``metrics_port``, Prometheus metrics (role ``ingest``) are served for the worker's
    lifetime, from a snapshot refreshed once per progress interval.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if not settings.run_id:
        settings = dataclasses.replace(settings, run_id=new_run_id("ingest", wall_ns()))
    if jsonl:
        # First of all, so whoever started us can check every setting arrived as meant.
        _emit(out, "settings", settings=public_settings(settings))
    target = parse_sink_url(settings.sink)
    try:
        sink = await asyncio.to_thread(
            open_sink, target, settings.run_id, busy_timeout_s=settings.sink_busy_timeout_s
        )
    except SimulatorError as exc:
        if jsonl:
            _emit(out, "error", message=str(exc))
        raise
    worker = IngestWorker(settings, sink, loop=loop, wall_ns=wall_ns, sink_display=target.display())
    if sink.rows_before:
        worker.notes.append(
            f"{target.display()} already held {sink.rows_before:,} telemetry rows of other "
            f"runs; this run's rows are those with run_id = {settings.run_id!r}"
        )
    try:
        await worker.start()
    except SimulatorError as exc:
        if jsonl:
            _emit(out, "error", message=str(exc))
        await worker.stop()
        raise
    if jsonl:
        _emit(out, "ready", notes=worker.notes, run_id=settings.run_id)
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
                _emit(out, "progress", **snap.to_dict())
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
        _emit(out, "final", **final.to_dict())
    return final
