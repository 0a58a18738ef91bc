"""What storing a row costs: SqliteSink, PostgresSink and a raw PostgreSQL ``COPY``, side by side.

Every variant writes the same generated rows (10 signals each: 8 full-precision floats, a
counter and a state; a 150-byte payload) in batches of ``--batch-size``, one transaction per
batch, and the variants take turns batch by batch so a noisy neighbour on the machine hits them
all alike. Per row it reports:

- CPU of this process (``time.process_time``): what the ingest worker pays, the figure its
  6 µs-per-message budget is about;
- CPU of the PostgreSQL backend serving the connection (``/proc/<pid>/stat``; the server runs
  on the same machine and competes for the same cores);
- wall time per row, whose inverse is the throughput.

"raw COPY" is psycopg alone, with no sink code: binary ``COPY`` with ``set_types``, each row
with a run id in front through ``write_row``, values to jsonb through orjson, commit; its
ratios to PostgresSink say what the sink adds. "raw COPY, no index" leaves out the index on
``run_id``, which prices it. "no signals" variants store rows whose values are empty, which
prices storing the signals.

PostgreSQL is a private server started for the run (``tests/postgres.py``: ``initdb`` and
``pg_ctl`` from /usr/lib/postgresql/*/bin, as the postgres user when run as root) with its
default settings, fsync on; SQLite files go to a temporary directory.

Usage (from the repository root)::

    .venv/bin/python bench/sink_bench.py
    .venv/bin/python bench/sink_bench.py --batches 10 --batch-size 1000
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psycopg
from psycopg.types.json import set_json_dumps

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(1, str(REPO))

from simulator.sinks import Row  # noqa: E402
from simulator.sinks.postgresql import PostgresSink  # noqa: E402
from simulator.sinks.sqlite import SqliteSink  # noqa: E402
from tests.postgres import PostgresCluster  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
RAW_TYPES = ("text", "text", "int8", "int8", "int8", "text", "bytea", "jsonb")
RAW_TABLE = (
    "CREATE TABLE {name} (run_id text, device_id text, seq bigint, emit_ns bigint, "
    "recv_ns bigint, topic text, payload bytea, signals jsonb)"
)


def make_rows(count: int, *, signals: bool, seed: int = 1) -> list[Row]:
    """``count`` rows over 1,000 devices: 10 signals each (or none), a 150-byte payload."""
    rng = random.Random(seed)
    now_ns = 1_796_606_247_000_000_000
    made = []
    for n in range(count):
        device = n % 1000
        values: dict[str, float | int | str] = {}
        if signals:
            values = {f"signal_{k}_c": rng.uniform(-50.0, 500.0) for k in range(8)}
            values["part_count"] = n * 7
            values["state"] = rng.choice(("running", "idle", "setup"))
        made.append(
            Row(
                f"cnc-{device:06d}",
                n // 1000,
                now_ns + n * 1_000,
                now_ns + n * 1_000 + 2_500_000,
                f"factory/site-01/line-{device % 8:02d}/cnc-{device:06d}/telemetry",
                rng.randbytes(150),
                values,
            )
        )
    return made


def backend_cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system) the process ``pid`` has used; 0 for no process."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass
class Variant:
    """One way of storing a batch, and what it cost, batch by batch."""

    name: str
    write: Callable[[list[Row]], None]
    backend_pid: int | None = None
    client_s: list[float] = field(default_factory=list)
    server_s: list[float] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)

    def run(self, batch: list[Row]) -> None:
        server = backend_cpu_s(self.backend_pid)
        wall, cpu = time.perf_counter(), time.process_time()
        self.write(batch)
        self.client_s.append(time.process_time() - cpu)
        self.wall_s.append(time.perf_counter() - wall)
        self.server_s.append(backend_cpu_s(self.backend_pid) - server)

    def per_row_us(self, rows: int) -> tuple[float, float, float]:
        """Median client CPU and wall per row of one batch, and the server CPU per row over all
        batches (its clock ticks are 10 ms, too coarse for one batch), in µs."""
        batches = len(self.client_s)
        return (
            statistics.median(self.client_s) / rows * 1e6,
            sum(self.server_s) / (rows * batches) * 1e6,
            statistics.median(self.wall_s) / rows * 1e6,
        )


def backend_pid_of(url: str, application_name: str) -> int:
    """The pid of the server process serving the connection named ``application_name``."""
    with psycopg.connect(url) as conn:
        found = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (application_name,)
        ).fetchone()
    if found is None:
        raise RuntimeError(f"no PostgreSQL session named {application_name}")
    pid: int = found[0]
    return pid


def raw_copy(url: str, table: str, *, index: bool) -> tuple[Callable[[list[Row]], None], int]:
    """A batch writer doing nothing but psycopg's binary COPY into its own ``table``."""
    conn: psycopg.Connection[Any] = psycopg.connect(f"{url}?application_name={table}")
    set_json_dumps(orjson.dumps, conn)
    with conn.transaction():
        conn.execute(RAW_TABLE.format(name=table))
        if index:
            conn.execute(f"CREATE INDEX ON {table} (run_id)")
    statement = (
        f"COPY {table} (run_id, device_id, seq, emit_ns, recv_ns, topic, payload, signals) "
        "FROM STDIN (FORMAT BINARY)"
    )

    def write(batch: list[Row]) -> None:
        with conn.transaction(), conn.cursor() as cursor, cursor.copy(statement) as copy:
            copy.set_types(RAW_TYPES)
            for row in batch:
                copy.write_row(("raw", *row))

    return write, backend_pid_of(url, table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=30, help="batches per variant")
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()
    size: int = args.batch_size
    with_signals = make_rows(args.batches * size, signals=True)
    without = make_rows(args.batches * size, signals=False)
    payload_bytes = statistics.mean(len(r.payload or b"") for r in with_signals)
    json_bytes = statistics.mean(len(orjson.dumps(r.values)) for r in with_signals)

    print("starting a private PostgreSQL ...", file=sys.stderr)
    cluster = PostgresCluster()
    variants: list[tuple[Variant, list[Row]]] = []
    closers: list[Callable[[], None]] = []
    try:
        cluster.create()
        url = cluster.url
        with tempfile.TemporaryDirectory(prefix="sink-bench-") as scratch:
            for label, rows in (("", with_signals), (", no signals", without)):
                tag = "nosig" if label else "sig"
                sqlite = SqliteSink(Path(scratch) / f"{tag}.sqlite", f"bench-{tag}")
                closers.append(sqlite.close)
                variants.append((Variant(f"SqliteSink{label}", sqlite.write_batch), rows))
                name = f"bench-{tag}"
                postgres = PostgresSink(f"{url}?application_name={name}", name)
                closers.append(postgres.close)
                pid = backend_pid_of(url, name)
                variants.append((Variant(f"PostgresSink{label}", postgres.write_batch, pid), rows))
                write, pid = raw_copy(url, f"raw_{tag}", index=True)
                variants.append((Variant(f"raw COPY{label}", write, pid), rows))
            write, pid = raw_copy(url, "raw_noindex", index=False)
            variants.append((Variant("raw COPY, no index", write, pid), with_signals))
            for start in range(0, args.batches * size, size):
                for variant, rows in variants:
                    variant.run(rows[start : start + size])
            for close in closers:
                close()
    finally:
        cluster.destroy()

    print(
        f"\n{args.batches} batches of {size} rows per variant; rows: 10 signals "
        f"({json_bytes:.0f} B of JSON), {payload_bytes:.0f} B payload\n"
    )
    print("| variant | this process CPU µs/row | PostgreSQL backend CPU µs/row | wall µs/row |")
    print("|---|---:|---:|---:|")
    figures = {}
    for variant, _ in variants:
        client, server, wall = variant.per_row_us(size)
        figures[variant.name] = (client, server, wall)
        server_text = f"{server:.2f}" if variant.backend_pid else "-"
        print(f"| {variant.name} | {client:.2f} | {server_text} | {wall:.2f} |")
    print()
    for label in ("", ", no signals"):
        sink, raw = figures[f"PostgresSink{label}"], figures[f"raw COPY{label}"]
        print(
            f"PostgresSink / raw COPY{label}: throughput (wall) {raw[2] / sink[2]:.2f}x, "
            f"client CPU {sink[0] / raw[0]:.2f}x, client + backend CPU "
            f"{(sink[0] + sink[1]) / (raw[0] + raw[1]):.2f}x"
        )
    sqlite_cost = figures["SqliteSink"][0] - figures["SqliteSink, no signals"][0]
    print(f"storing the signals in SQLite: {sqlite_cost:+.2f} µs CPU per row")
    index = figures["raw COPY"], figures["raw COPY, no index"]
    print(
        f"index on run_id (raw COPY): {index[0][0] - index[1][0]:+.2f} µs client CPU, "
        f"{index[0][1] - index[1][1]:+.2f} µs backend CPU, {index[0][2] - index[1][2]:+.2f} µs "
        "wall per row"
    )
    print(
        f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, psycopg {psycopg.__version__} (libpq "
        f"{psycopg.pq.version()}), SQLite {__import__('sqlite3').sqlite_version}"
    )


if __name__ == "__main__":
    main()
