"""Kept sessions: draining what the broker queued for an ingest worker, and reading a run back.

Two measurements behind the kept-session and restart entries of docs/DECISIONS.md.

``drain``: a fresh Mosquitto from ``broker_config/`` (``LocalBroker``); the real worker process
(an ``IngestPool`` of one, as the runner starts it for a kept session: QoS 1, ``clean_start =
false``, a session expiry, a plain subscription to ``bench/#``) subscribes and is stopped; the
engine then publishes ``--messages`` QoS 1 messages (``--devices`` devices, every PUBACK
awaited), which the broker queues in the session; a worker with the same settings (the same
client id) is started again and drains them into a fresh SQLite file. Reported: messages over
the worker's receive window (first to last message received), the time from starting the
worker process to the last row committed, the worker's CPU over its whole life (process start
included) and Mosquitto's over the same time, per message, and the messages lost (published
but not stored) and duplicated.

``readback``: ``Sink.read_stored``, what a restarted worker runs before it subscribes, for a run
of ``--rows`` rows in a table that holds ``--other-rows`` of another run as well (the same
devices, batches of the two runs alternating, as two runs sharing the storage at once), in
SQLite (a file in the page cache) and in a private PostgreSQL (``tests/postgres.py``, default
settings, after ``VACUUM ANALYZE``, as autovacuum keeps a table that grows). Reported: CPU of
this process (SQLite reads in it) and of the PostgreSQL backend serving the read, and wall
time; each read is checked to give every device back whole.

Every figure is the median of ``--repeats``; the batch sizes of a drain take turns in each
repeat, so a busy neighbour hits them alike. Progress goes to standard error, the tables and
the machine (load average before and after) to standard output.

Usage (from the repository root)::

    .venv/bin/python bench/kept_session.py --repeats 3
    .venv/bin/python bench/kept_session.py --only drain --messages 200000 --batch-sizes 1000,5000
    .venv/bin/python bench/kept_session.py --only readback --rows 1000000 --other-rows 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import uvloop

BENCH = Path(__file__).resolve().parent
# Run as a script, this directory (holding the other benches and ``clients``) is on the path
# but the repository root (holding ``simulator`` and ``tests``) is not.
sys.path.insert(1, str(BENCH.parent))

from clients.common import StackArgs, say  # noqa: E402
from clients.engine_driver import run_engine  # noqa: E402
from clients.engine_qos1_stack import qos1_scenario  # noqa: E402
from clients.workload import TOPIC_FILTER  # noqa: E402
from ingest_replay import process_cpu_s  # noqa: E402
from run import machine  # noqa: E402
from sink_bench import backend_pid_of  # noqa: E402

from simulator.broker import LocalBroker  # noqa: E402
from simulator.fleet import PlantLayout, TopicTemplate, get_model  # noqa: E402
from simulator.ingest.pool import IngestPool  # noqa: E402
from simulator.ingest.settings import WorkerSettings  # noqa: E402
from simulator.sinks import Row, Sink  # noqa: E402
from simulator.sinks.postgresql import PostgresSink  # noqa: E402
from simulator.sinks.sqlite import SqliteSink  # noqa: E402
from tests.postgres import PostgresCluster  # noqa: E402

SESSION_EXPIRY_S = 600
CONCURRENCY = 100
"""Connects the publishing engine has pending at once (the benchmarks' default)."""
FILL_BATCH = 10_000
"""Rows per transaction when filling the read-back tables (not measured)."""
THIS_RUN, OTHER_RUN = "this-run", "other-run"


async def drain(batch_size: int, args: argparse.Namespace, sqlite: Path) -> dict[str, float]:
    """One kept session filled while its worker is away, then drained by a new worker into
    the SQLite file ``sqlite``."""
    loop = asyncio.get_running_loop()
    with LocalBroker() as broker:
        settings = WorkerSettings(
            broker.host,
            broker.port,
            topic_filter=TOPIC_FILTER,
            share_group=None,
            client_id="ingest-kept",
            qos=1,
            session_expiry_s=SESSION_EXPIRY_S,
            batch_size=batch_size,
            sink=f"sqlite:///{sqlite}",
        )
        first = IngestPool([settings])
        await first.start()
        await first.stop()
        stack = StackArgs(
            host=broker.host,
            port=broker.port,
            devices=args.devices,
            messages=args.messages // args.devices,
            concurrency=CONCURRENCY,
            connect_timeout_s=10.0,
            phase_timeout_s=args.timeout,
        )
        published = await run_engine("publish", stack, qos1_scenario(stack))
        sent = published.sent
        if published.notes or published.extra.get("acked") != sent:
            raise RuntimeError(f"publishing fell short: {published.notes or published.extra}")
        say(f"drain: {sent:,} messages queued; starting the worker again (batch {batch_size:,})")
        second = IngestPool([settings])
        started, broker_cpu_s = loop.time(), process_cpu_s(broker.pid)
        try:
            await second.start(args.timeout)
            pid = second.children[0].pid
            assert pid is not None
            await second.wait_for_resolved(sent, args.timeout)
            wall_s = loop.time() - started
            cpu_s = process_cpu_s(pid)
            broker_cpu_s = process_cpu_s(broker.pid) - broker_cpu_s
            final = await second.stop()
        finally:
            if second.final is None:
                await second.kill()
    window_s = ((final.last_recv_ns or 0) - (final.first_recv_ns or 0)) / 1e9
    return {
        "msg_per_s": sent / window_s if window_s > 0 else 0.0,
        "wall_s": wall_s,
        "cpu_us_per_msg": cpu_s / sent * 1e6,
        "broker_cpu_us_per_msg": broker_cpu_s / sent * 1e6,
        "lost": sent - final.committed_unique,
        "duplicated": final.duplicated,
    }


def run_rows(rows: int, devices: int) -> Iterator[list[Row]]:
    """A run's ``rows`` machine-sensor rows in batches, devices round robin, as a worker
    stores them (no payload bytes, the default)."""
    model = get_model("machine-sensor")
    layout, template = PlantLayout(2, 4, model.id_prefix), TopicTemplate()
    identities = [layout.identity(index) for index in range(devices)]
    topics = [template.render(identity, model.name) for identity in identities]
    states = [model.new_state(index, 1) for index in range(devices)]
    now_ns = time.time_ns()
    for start in range(0, rows, FILL_BATCH):
        batch = []
        for n in range(start, min(rows, start + FILL_BATCH)):
            device, seq = n % devices, n // devices
            emit_ns = now_ns + n * 10_000
            values = model.sample(states[device], seq, seq)
            batch.append(
                Row(identities[device].device_id, seq, emit_ns, emit_ns + 2_000_000,
                    topics[device], None, values)
            )  # fmt: skip
        yield batch


def fill(sinks: dict[str, list[Sink]], args: argparse.Namespace) -> None:
    """Write this run's rows and the other run's, batch by batch in turn, into every storage."""
    this = run_rows(args.rows, args.readback_devices)
    other = run_rows(args.other_rows, args.readback_devices)
    for pair in zip(this, other, strict=False):
        for run_id, batch in zip((THIS_RUN, OTHER_RUN), pair, strict=True):
            for sink in sinks[run_id]:
                sink.write_batch(batch)
    for run_id, rest in ((THIS_RUN, this), (OTHER_RUN, other)):
        for batch in rest:
            for sink in sinks[run_id]:
                sink.write_batch(batch)


def read_back(sink: Sink, args: argparse.Namespace, backend_pid: int | None) -> dict[str, float]:
    """Time one ``read_stored`` of this run and check it gave every device back whole."""
    backend = process_cpu_s(backend_pid) if backend_pid else 0.0
    wall, cpu = time.perf_counter(), time.process_time()
    stored = list(sink.read_stored())
    figures = {
        "cpu_s": time.process_time() - cpu,
        "backend_cpu_s": process_cpu_s(backend_pid) - backend if backend_pid else 0.0,
        "wall_s": time.perf_counter() - wall,
    }
    rows = sum(device.rows for device in stored)
    broken = sum(len(device.sequences) != 2 for device in stored)
    if rows != args.rows or len(stored) != min(args.readback_devices, args.rows) or broken:
        raise RuntimeError(f"read back {rows:,} rows of {len(stored):,} devices, {broken} broken")
    return figures


def readback(args: argparse.Namespace, workdir: Path) -> dict[str, list[dict[str, float]]]:
    """Fill both storages, then read this run back ``--repeats`` times from each, in turn."""
    cluster = PostgresCluster()
    try:
        cluster.create()
        path = workdir / "readback.sqlite"
        sinks: dict[str, list[Sink]] = {
            run_id: [SqliteSink(path, run_id), PostgresSink(cluster.url, run_id)]
            for run_id in (THIS_RUN, OTHER_RUN)
        }
        say(f"readback: writing {args.rows + args.other_rows:,} rows into SQLite and PostgreSQL")
        fill(sinks, args)
        for sink in sinks[THIS_RUN] + sinks[OTHER_RUN]:
            sink.close()
        with psycopg.connect(cluster.url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE telemetry")
            version = divmod(conn.info.server_version, 10_000)
        postgresql = "PostgreSQL {}.{}".format(*version)
        results: dict[str, list[dict[str, float]]] = {"SQLite": [], postgresql: []}
        for repeat in range(args.repeats):
            # Each read opens the storage anew, as a restarted worker does.
            sqlite = SqliteSink(path, THIS_RUN)
            results["SQLite"].append(read_back(sqlite, args, None))
            sqlite.close()
            name = f"readback-{repeat}"
            postgres = PostgresSink(f"{cluster.url}?application_name={name}", THIS_RUN)
            results[postgresql].append(read_back(postgres, args, backend_pid_of(cluster.url, name)))
            postgres.close()
            say(f"readback {repeat + 1}: " + repr({k: v[-1] for k, v in results.items()}))
    finally:
        cluster.destroy()
    return results


def median(rounds: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rounds)


def drain_table(results: dict[int, list[dict[str, float]]], args: argparse.Namespace) -> str:
    lines = [
        f"Drain of {args.messages:,} QoS 1 messages ({args.devices:,} devices) queued in a kept "
        f"session, medians of {args.repeats}:",
        "",
        "| batch | msg/s, first to last received | s from worker start to all committed "
        "| worker CPU µs/msg, start included | Mosquitto CPU µs/msg | lost | duplicated |",
        "|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for size, rounds in results.items():
        lines.append(
            f"| {size:,} | {median(rounds, 'msg_per_s'):,.0f} | {median(rounds, 'wall_s'):.2f} "
            f"| {median(rounds, 'cpu_us_per_msg'):.1f} "
            f"| {median(rounds, 'broker_cpu_us_per_msg'):.1f} "
            f"| {sum(r['lost'] for r in rounds):,.0f} "
            f"| {sum(r['duplicated'] for r in rounds):,.0f} |"
        )
    lines.append("\n(lost and duplicated: totals over every repeat)")
    return "\n".join(lines)


def readback_table(results: dict[str, list[dict[str, float]]], args: argparse.Namespace) -> str:
    lines = [
        f"`read_stored` of a run of {args.rows:,} rows ({args.readback_devices:,} devices) in a "
        f"table of {args.rows + args.other_rows:,}, medians of {args.repeats}:",
        "",
        "| storage | CPU s, this process | CPU s, PostgreSQL backend | wall s |",
        "|---|--:|--:|--:|",
    ]
    for storage, rounds in results.items():
        backend = f"{median(rounds, 'backend_cpu_s'):.2f}" if storage != "SQLite" else "-"
        lines.append(
            f"| {storage} | {median(rounds, 'cpu_s'):.2f} | {backend} "
            f"| {median(rounds, 'wall_s'):.2f} |"
        )
    return "\n".join(lines)


async def drains(args: argparse.Namespace, workdir: Path) -> dict[int, list[dict[str, float]]]:
    results: dict[int, list[dict[str, float]]] = {size: [] for size in args.batch_sizes}
    for repeat in range(args.repeats):
        for size in args.batch_sizes:
            sqlite = workdir / f"drain-{repeat}-{size}.sqlite"
            results[size].append(await drain(size, args, sqlite))
            say(f"drain {repeat + 1}, batch {size:,}: {results[size][-1]}")
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--only", choices=("drain", "readback"), help="one measurement of two")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--messages", type=int, default=200_000, help="queued for the drain")
    parser.add_argument("--devices", type=int, default=1_000, help="publishing them")
    parser.add_argument(
        "--batch-sizes",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[1_000, 5_000],
        help="the drain's worker batch sizes, comma-separated",
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="the run read back")
    parser.add_argument("--other-rows", type=int, default=1_000_000, help="another run's")
    parser.add_argument(
        "--readback-devices", type=int, default=10_000, help="the read-back run's devices"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="bound on each phase, s")
    args = parser.parse_args(argv)
    if args.messages % args.devices:
        parser.error("--messages must be a multiple of --devices")
    return args


def main() -> None:
    args = parse_args()
    load_before = os.getloadavg()
    tables = []
    with tempfile.TemporaryDirectory(prefix="kept-session-") as tmp:
        if args.only in (None, "drain"):
            tables.append(drain_table(uvloop.run(drains(args, Path(tmp))), args))
        if args.only in (None, "readback"):
            tables.append(readback_table(readback(args, Path(tmp)), args))
    load_after = os.getloadavg()
    print("\n\n".join(tables))
    print(
        "\nMachine: {nproc} cores, {cpu}, Linux {kernel}, Python {python}, {mosquitto}".format(
            **machine()
        )
        + f", SQLite {sqlite3.sqlite_version}"
    )
    before, after = (" ".join(f"{n:.2f}" for n in load) for load in (load_before, load_after))
    print(f"Load average (1, 5, 15 min) before: {before}; after: {after}")


if __name__ == "__main__":
    main()
