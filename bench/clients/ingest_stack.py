"""The ingest stack: the project's ingest worker, in its own process, fed by the engine.

The worker is started exactly as the runner starts it (an :class:`~simulator.ingest.pool.IngestPool`
of one, which runs ``python -m simulator ingest`` and waits until it has subscribed), writing into a
SQLite file in a temporary directory. The engine then publishes ``devices * messages`` messages
under ``bench/``; the stack waits until the worker has every one of them (or the phase timeout)
and stops it gracefully, so its final snapshot says what reached SQLite.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import uvloop

from simulator.ingest.pool import IngestPool
from simulator.ingest.settings import WorkerSettings
from simulator.metrics.ingest import IngestSnapshot

from .common import StackArgs, StackFigures, parse_args, prepare_process, report, say
from .engine_driver import run_engine
from .workload import TOPIC_FILTER, bench_scenario

FINAL_KEYS = (
    "received",
    "unique",
    "duplicated",
    "out_of_order",
    "missing",
    "malformed",
    "committed_rows",
    "committed_unique",
    "failed_rows",
    "first_recv_ns",
    "last_recv_ns",
    "sink_kind",
    "sink_error",
    "notes",
)
"""The parts of the worker's final snapshot the benchmark keeps."""


def ingest_figures(final: IngestSnapshot) -> dict[str, Any]:
    """The benchmark's view of the worker's final snapshot, with latency percentiles in µs."""
    kept = {key: getattr(final, key) for key in FINAL_KEYS}
    histogram = final.latency_us
    if histogram.count:
        kept["latency_us"] = {
            "p50": histogram.percentile(50),
            "p99": histogram.percentile(99),
            "max": histogram.max,
        }
    return kept


async def run(args: StackArgs) -> StackFigures:
    """Start the worker, publish with the engine, wait for the worker, stop it."""
    figures = StackFigures("ingest", args.devices, args.messages)
    scenario = bench_scenario(args.host, args.port, args.devices, args.concurrency)
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as workdir:
        pool = IngestPool(
            [
                WorkerSettings(
                    args.host,
                    args.port,
                    topic_filter=TOPIC_FILTER,
                    sink=f"sqlite:///{Path(workdir) / 'ingest.sqlite'}",
                )
            ]
        )
        say("ingest: starting the worker process")
        figures.notes.extend(await pool.start())
        try:
            await run_engine("engine", args, scenario, figures=figures)
            say(f"ingest: waiting for the worker to receive {figures.sent:,} messages")
            if not await pool.wait_for_resolved(figures.sent, args.phase_timeout_s):
                figures.notes.append(
                    f"ingest: worker had {pool.committed:,} of {figures.sent:,} messages after "
                    f"{args.phase_timeout_s:g} s"
                )
            final = await pool.stop()
        finally:
            if pool.final is None:
                await pool.kill()
        figures.extra["ingest"] = ingest_figures(final)
    return figures


def main() -> None:
    """Entry point: ``python -m clients.ingest_stack --port P --devices N --messages M``."""
    args = parse_args(__doc__ or "ingest stack")
    prepare_process()
    report(uvloop.run(run(args)))


if __name__ == "__main__":
    main()
