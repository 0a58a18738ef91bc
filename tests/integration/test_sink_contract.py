"""The contract every sink keeps, run against each implementation and real faults of each.

Implementations: memory, SQLite (real files), PostgreSQL (the private server of
``tests/postgres.py``). What is stored is always read back independently of the sink: a fresh
SQLite connection, a second PostgreSQL session. Faults are real: another SQLite connection
holding the write lock, a 600 KiB tmpfs filled to the last byte, a PostgreSQL session
terminated by ``pg_terminate_backend``, the PostgreSQL server stopped.
"""

from __future__ import annotations

import errno
import sqlite3
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import psycopg
import pytest

from simulator.errors import SinkError
from simulator.sinks import Malformed, Row, Sink, StoredDevice
from simulator.sinks.memory import MemorySink
from simulator.sinks.postgresql import PostgresSink
from simulator.sinks.sqlite import SqliteSink
from tests.postgres import PostgresCluster

T0 = 1_716_000_000_000_000_000


def rows(device: str, count: int, start: int = 0) -> list[Row]:
    return [
        Row(
            device,
            seq,
            T0 + seq,
            T0 + seq + 1_500,
            f"plant/{device}/t",
            bytes([seq % 256]) * 150,
            {"temperature_c": 20.0 + seq / 4, "count": seq, "state": "RUNNING", "alarm": False},
        )
        for seq in range(start, start + count)
    ]


def new_run_id() -> str:
    # Runs of every test share the PostgreSQL database: a run id of its own keeps each apart.
    return f"test-{uuid.uuid4().hex[:12]}"


@dataclass
class Subject:
    """Sinks of one implementation over one storage, and that storage read independently."""

    open: Callable[[str], Sink]
    """Opens a sink on the same storage for a run id."""
    stored_rows: Callable[[str], list[Row]]
    stored_malformed: Callable[[str], list[Malformed]]
    signal: Callable[[str, str], list[float]]
    """A numeric signal of a run's rows as the storage's own JSON query returns it."""
    opened: list[Sink] = field(default_factory=list)

    def sink(self, run_id: str) -> Sink:
        made = self.open(run_id)
        self.opened.append(made)
        return made


def _memory(_: pytest.FixtureRequest, __: Path) -> Subject:
    sinks: dict[str, MemorySink] = {}

    def open_memory(run_id: str) -> Sink:
        # A run opened again writes to the same memory, as a restarted worker to its file.
        earlier = sinks.get(run_id)
        sinks[run_id] = MemorySink(run_id, rows=earlier.rows if earlier is not None else None)
        return sinks[run_id]

    return Subject(
        open_memory,
        lambda run: list(sinks[run].rows),
        lambda run: list(sinks[run].malformed),
        lambda run, name: [float(r.values[name]) for r in sinks[run].rows],
    )


def _sqlite_reader(path: Path) -> Callable[..., list[Any]]:
    def read(query: str, *params: object) -> list[Any]:
        # A fresh connection sees only what was committed to the file. Closed here: a
        # connection's statement cache refers back to it, so dropping it leaves the file open
        # until the garbage collector runs, and the disk-full fault cannot unmount its tmpfs.
        with closing(sqlite3.connect(path)) as conn:
            return conn.execute(query, params).fetchall()

    return read


def _sqlite_stored(path: Path) -> Callable[[str], list[Row]]:
    """A run's rows in the SQLite file at ``path``, in the order they were written."""
    read = _sqlite_reader(path)
    columns = "device_id, seq, emit_ns, recv_ns, topic, payload, signals"

    def stored_rows(run: str) -> list[Row]:
        found = read(f"SELECT {columns} FROM telemetry WHERE run_id = ? ORDER BY rowid", run)
        return [Row._make((*r[:6], orjson.loads(r[6]))) for r in found]

    return stored_rows


def _sqlite(_: pytest.FixtureRequest, tmp_path: Path) -> Subject:
    path = tmp_path / "runs" / "ingest.sqlite"
    read = _sqlite_reader(path)
    return Subject(
        lambda run: SqliteSink(path, run),
        _sqlite_stored(path),
        lambda run: [
            Malformed(*r)
            for r in read(
                "SELECT recv_ns, topic, payload, error FROM malformed WHERE run_id = ? "
                "ORDER BY rowid",
                run,
            )
        ],
        lambda run, name: [
            r[0]
            for r in read(
                "SELECT json_extract(signals, '$.' || ?) FROM telemetry WHERE run_id = ? "
                "ORDER BY rowid",
                name,
                run,
            )
        ],
    )


def _postgres_reader(url: str) -> Callable[..., list[Any]]:
    def read(query: Any, *params: object) -> list[Any]:
        with psycopg.connect(url) as conn:
            return conn.execute(query, params).fetchall()

    return read


def _postgresql(request: pytest.FixtureRequest, _: Path) -> Subject:
    url: str = request.getfixturevalue("postgres_url")
    read = _postgres_reader(url)
    columns = "device_id, seq, emit_ns, recv_ns, topic, payload, signals"

    return Subject(
        lambda run: PostgresSink(url, run),
        lambda run: [
            Row._make(r)
            for r in read(f"SELECT {columns} FROM telemetry WHERE run_id = %s ORDER BY seq", run)
        ],
        lambda run: [
            Malformed(*r)
            for r in read(
                "SELECT recv_ns, topic, payload, error FROM malformed WHERE run_id = %s "
                "ORDER BY recv_ns",
                run,
            )
        ],
        lambda run, name: [
            r[0]
            for r in read(
                "SELECT (signals->>%s)::float8 FROM telemetry WHERE run_id = %s ORDER BY seq",
                name,
                run,
            )
        ],
    )


@pytest.fixture(
    params=[
        _memory,
        _sqlite,
        pytest.param(_postgresql, marks=pytest.mark.postgres),
    ],
    ids=["memory", "sqlite", "postgresql"],
)
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Subject]:
    made: Subject = request.param(request, tmp_path)
    yield made
    for sink in made.opened:
        sink.close()


def test_rows_are_counted_and_readable_back_with_their_values(subject: Subject) -> None:
    run = new_run_id()
    sink = subject.sink(run)
    assert sink.run_id == run
    first, second = rows("press-1", 3), rows("press-2", 2, start=3) + rows("press-1", 2, start=5)
    sink.write_batch(first)
    sink.write_batch(second)
    assert sink.rows_written == 7
    assert subject.stored_rows(run) == first + second


def test_awkward_text_and_extreme_numbers_come_back_exactly(subject: Subject) -> None:
    """What a text format must escape (tabs, newlines, backslashes, quotes) in every text
    field and in the signals, and the ends of the 64-bit range, stored and read back as given."""
    run = new_run_id()
    awkward = [
        Row(
            "press\t1",
            0,
            0,
            -1,
            "plant/a\\b/t",
            b"",
            {"tab": "a\tb", "quote": 'say "hi" \\ bye', "breaks": "x\ny\r", "u": "ü€😀", "e": ""},
        ),
        Row(
            "press\n\\2 ü",
            1,
            (1 << 63) - 1,
            -(1 << 63),
            "plant/\r/t\n",
            bytes(range(256)),
            {"big": (1 << 63) - 1, "small": -(1 << 63), "half": -0.5, "on": True, "\\N": "\\N"},
        ),
        Row("", 2, 5, 6, "p", b"\\N", {}),
        Row("press-3", 3, 7, 8, "p", None, {"payload": "not stored"}),
    ]
    sink = subject.sink(run)
    sink.write_batch(awkward)
    assert subject.stored_rows(run) == awkward


def test_batches_without_payloads_come_back_without_them(subject: Subject) -> None:
    """The default (payloads not stored): whole batches of rows without one, between batches
    with them and a batch of empty ones (not the same as none), each stored as given."""
    run = new_run_id()
    bare = [row._replace(payload=None) for row in rows("press-1", 5)]
    empty = [row._replace(payload=b"") for row in rows("press-1", 2, start=7)]
    later = [row._replace(payload=None) for row in rows("press-1", 700, start=9)]
    sink = subject.sink(run)
    for batch in (bare, rows("press-1", 2, start=5), empty, later):
        sink.write_batch(batch)
    assert sink.rows_written == 709
    assert subject.stored_rows(run) == bare + rows("press-1", 2, start=5) + empty + later


def test_signals_are_queryable_in_the_storage(subject: Subject) -> None:
    run = new_run_id()
    subject.sink(run).write_batch(rows("press-1", 4))
    assert subject.signal(run, "temperature_c") == [20.0, 20.25, 20.5, 20.75]


def test_two_runs_in_one_storage_do_not_mix(subject: Subject) -> None:
    run_a, run_b = new_run_id(), new_run_id()
    a, b = subject.sink(run_a), subject.sink(run_b)
    a.write_batch(rows("press-1", 2))
    b.write_batch(rows("press-9", 3))
    a.write_batch(rows("press-1", 1, start=2))
    b.write_malformed([Malformed(T0, "plant/x/t", b"\xff", "bad")])
    assert (a.rows_written, b.rows_written) == (3, 3)
    assert subject.stored_rows(run_a) == rows("press-1", 3)
    assert subject.stored_rows(run_b) == rows("press-9", 3)
    assert subject.stored_malformed(run_a) == []
    assert subject.stored_malformed(run_b) == [Malformed(T0, "plant/x/t", b"\xff", "bad")]


def test_malformed_messages_are_kept(subject: Subject) -> None:
    run = new_run_id()
    sink = subject.sink(run)
    bad = [
        Malformed(T0, "plant/x/t", b"\xff\x00garbage", "msgpack: unpack failed"),
        Malformed(T0 + 1, "plant/y/t", b"", "empty payload"),
    ]
    sink.write_malformed(bad)
    assert subject.stored_malformed(run) == bad
    assert sink.rows_written == 0


def test_empty_batches_are_fine(subject: Subject) -> None:
    run = new_run_id()
    sink = subject.sink(run)
    sink.write_batch([])
    sink.write_malformed([])
    assert sink.rows_written == 0
    assert subject.stored_rows(run) == []
    assert subject.stored_malformed(run) == []


def test_close_is_idempotent(subject: Subject) -> None:
    run = new_run_id()
    sink = subject.sink(run)
    sink.write_batch(rows("press-1", 1))
    sink.close()
    sink.close()
    assert subject.stored_rows(run) == rows("press-1", 1)


def test_writing_after_close_raises_sink_error_naming_sink_size_and_reason(
    subject: Subject,
) -> None:
    sink = subject.sink(new_run_id())
    sink.close()
    with pytest.raises(SinkError, match=rf"{sink.kind} sink.*\b5 rows") as caught:
        sink.write_batch(rows("press-1", 5))
    assert caught.value.reason == "closed"
    with pytest.raises(SinkError, match=rf"{sink.kind} sink.*\b1 malformed") as caught:
        sink.write_malformed([Malformed(T0, "t", b"", "e")])
    assert caught.value.reason == "closed"
    assert sink.rows_written == 0


def test_a_sink_opened_again_for_a_run_reads_what_the_run_stored_per_device(
    subject: Subject,
) -> None:
    """What a restarted ingest worker reads: every device's distinct sequence numbers as
    ranges, its rows with duplicates, its topic; of this run only, whoever wrote them."""
    run, other = new_run_id(), new_run_id()
    first = subject.sink(run)
    first.write_batch(rows("press-1", 5) + rows("press-2", 3, start=3))
    first.write_batch(rows("press-1", 1, start=2) + rows("press-2", 2, start=9))  # 2 is again
    subject.sink(other).write_batch(rows("press-1", 20) + rows("press-3", 1))
    first.close()
    again = subject.sink(run)
    assert list(again.read_stored()) == [
        StoredDevice("press-1", "plant/press-1/t", 6, [0, 5]),
        StoredDevice("press-2", "plant/press-2/t", 5, [3, 6, 9, 11]),
    ]
    assert again.rows_written == 0  # what it wrote itself: nothing yet
    again.write_batch(rows("press-2", 3, start=6))
    assert list(again.read_stored())[1] == StoredDevice("press-2", "plant/press-2/t", 8, [3, 11])


def test_a_run_that_stored_nothing_reads_nothing(subject: Subject) -> None:
    assert list(subject.sink(new_run_id()).read_stored()) == []


def test_a_device_heard_on_two_topics_reads_with_the_least(subject: Subject) -> None:
    run = new_run_id()
    sink = subject.sink(run)
    moved = [r._replace(topic="plant/a/t") for r in rows("press-1", 2, start=2)]
    sink.write_batch(rows("press-1", 2) + moved)
    assert list(sink.read_stored()) == [StoredDevice("press-1", "plant/a/t", 4, [0, 4])]


def test_reading_a_closed_sink_raises_sink_error_closed(subject: Subject) -> None:
    sink = subject.sink(new_run_id())
    sink.close()
    with pytest.raises(SinkError, match=rf"{sink.kind} sink.*read the run's rows") as caught:
        list(sink.read_stored())
    assert caught.value.reason == "closed"


# Faults. Each breaks the storage under an open sink in a real way, then mends it: the batch
# written meanwhile fails whole with the fault's reason, and the same sink stores the next one.


@dataclass
class Fault:
    """A sink, a way to break its storage and mend it, and the reason the sink must give."""

    sink: Sink
    stored_rows: Callable[[], list[Row]]
    inflict: Callable[[], object]
    mend: Callable[[], object]
    reason: str
    lasts: bool
    """Whether the storage stays broken until mended (a second write fails the same way)."""


def _injected(stack: ExitStack, _: pytest.FixtureRequest, __: Path) -> Fault:
    sink = MemorySink(new_run_id())
    return Fault(
        sink,
        lambda: list(sink.rows),
        lambda: sink.fail_next_batch("disk full", "disk_full"),
        lambda: None,
        "disk_full",
        lasts=False,
    )


def _sqlite_locked(stack: ExitStack, _: pytest.FixtureRequest, tmp_path: Path) -> Fault:
    path = tmp_path / "locked.sqlite"
    run = new_run_id()
    sink = SqliteSink(path, run, busy_timeout_s=0.2)
    holder = sqlite3.connect(path, isolation_level=None)
    stack.callback(holder.close)
    return Fault(
        sink,
        partial(_sqlite_stored(path), run),
        lambda: holder.execute("BEGIN EXCLUSIVE"),
        lambda: holder.execute("COMMIT"),
        "locked",
        lasts=True,
    )


def _write_until_it_fails(out: BinaryIO) -> None:
    while True:
        out.write(b"\0" * 4096)


def _sqlite_disk_full(stack: ExitStack, _: pytest.FixtureRequest, tmp_path: Path) -> Fault:
    disk = tmp_path / "small"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.fail(f"the disk-full test mounts a small tmpfs (needs root): {mounted.stderr}")
    stack.callback(subprocess.run, ["umount", str(disk)], check=True)
    path = disk / "full.sqlite"
    run = new_run_id()
    sink = SqliteSink(path, run)
    filler = disk / "filler"

    def fill() -> None:
        # Unbuffered, so the last partial write is the file system's answer, not close()'s.
        with (
            filler.open("wb", buffering=0) as out,
            pytest.raises(OSError, match="No space left") as full,
        ):
            _write_until_it_fails(out)
        assert full.value.errno == errno.ENOSPC

    return Fault(
        sink, partial(_sqlite_stored(path), run), fill, filler.unlink, "disk_full", lasts=True
    )


def _postgres_stored(url: str, run: str) -> Callable[[], list[Row]]:
    read = _postgres_reader(url)
    return lambda: [
        Row._make(r)
        for r in read(
            "SELECT device_id, seq, emit_ns, recv_ns, topic, payload, signals FROM telemetry "
            "WHERE run_id = %s ORDER BY seq",
            run,
        )
    ]


def _postgres_terminated(stack: ExitStack, request: pytest.FixtureRequest, __: Path) -> Fault:
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    run = new_run_id()
    # The session is found by its application name, not by reaching into the sink.
    sink = PostgresSink(f"{cluster.url}?application_name={run}", run)

    def terminate() -> None:
        with cluster.admin_connect() as admin:
            query = "SELECT pid FROM pg_stat_activity WHERE application_name = %s"
            (pid,) = admin.execute(query, (run,)).fetchone() or (None,)
            assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
            # The backend ends on its own time: wait until it has, so the write meets it gone.
            for _ in range(500):
                if admin.execute(query, (run,)).fetchone() is None:
                    return
                admin.execute("SELECT pg_sleep(0.01)")
            raise AssertionError(f"backend {pid} still there after pg_terminate_backend")

    return Fault(
        sink,
        _postgres_stored(cluster.url, run),
        terminate,
        lambda: None,
        "connection_lost",
        lasts=False,
    )


def _postgres_stopped(stack: ExitStack, request: pytest.FixtureRequest, __: Path) -> Fault:
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    run = new_run_id()
    sink = PostgresSink(cluster.url, run, connect_timeout_s=2)
    stopped = []

    def stop() -> None:
        cluster.stop()
        stopped.append(True)

    def start() -> None:
        cluster.start()
        stopped.clear()

    def start_if_stopped() -> None:
        if stopped:
            start()

    # The session's server must come back for the tests after this one, even if this one fails.
    stack.callback(start_if_stopped)
    return Fault(
        sink, _postgres_stored(cluster.url, run), stop, start, "connection_lost", lasts=True
    )


@pytest.fixture(
    params=[
        _injected,
        _sqlite_locked,
        _sqlite_disk_full,
        pytest.param(_postgres_terminated, marks=pytest.mark.postgres),
        pytest.param(_postgres_stopped, marks=pytest.mark.postgres),
    ],
    ids=[
        "memory-injected",
        "sqlite-locked",
        "sqlite-disk-full",
        "postgresql-terminated",
        "postgresql-stopped",
    ],
)
def fault(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Fault]:
    with ExitStack() as stack:
        made: Fault = request.param(stack, request, tmp_path)
        # Closed first, before what the storage needs is undone (the tmpfs unmounted).
        stack.callback(made.sink.close)
        yield made


@pytest.mark.timeout(120)
def test_a_fault_fails_the_whole_batch_with_its_reason_and_the_sink_recovers(fault: Fault) -> None:
    sink = fault.sink
    before = rows("press-1", 3)
    sink.write_batch(before)
    fault.inflict()
    # 1000 rows of 150-byte payloads (~300 KB with the signals): more than the full disk has.
    batch = rows("press-2", 1000, start=3)
    with pytest.raises(SinkError, match=rf"{sink.kind} sink\b.*batch of 1000 rows") as caught:
        sink.write_batch(batch)
    assert caught.value.reason == fault.reason
    if fault.lasts:
        with pytest.raises(SinkError) as again:
            sink.write_batch(batch)
        assert again.value.reason == fault.reason
    assert sink.rows_written == 3
    fault.mend()
    assert fault.stored_rows() == before
    sink.write_batch(batch)
    assert sink.rows_written == 1003
    assert fault.stored_rows() == before + batch
