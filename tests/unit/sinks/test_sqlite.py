"""What only the SQLite sink promises: the file layout, WAL, migration of old files, waiting for
another writer's lock, atomic batches, clear errors."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from simulator.errors import SinkError
from simulator.sinks import Row
from simulator.sinks.sqlite import SqliteSink, failure_reason


def row(seq: int, payload: object = b"x") -> Row:
    return Row("dev-1", seq, 1, 2, "t", payload, {"temperature_c": 21.5})  # type: ignore[arg-type]


def count(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        result: int = conn.execute("SELECT count(*) FROM telemetry").fetchone()[0]
    return result


def test_creates_parent_directories_tables_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "run.sqlite"
    sink = SqliteSink(path, "run-1")
    try:
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            columns = [r[1] for r in conn.execute("PRAGMA table_info(telemetry)")]
            malformed = [r[1] for r in conn.execute("PRAGMA table_info(malformed)")]
        assert tables == {"telemetry", "malformed"}
        assert columns == [
            "run_id", "device_id", "seq", "emit_ns", "recv_ns", "topic", "payload", "signals",
        ]  # fmt: skip
        assert malformed == ["run_id", "recv_ns", "topic", "payload", "error"]
    finally:
        sink.close()


def test_signals_are_json_text_that_sqlite_queries(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    sink = SqliteSink(path, "run-1")
    sink.write_batch([Row("d", 0, 1, 2, "t", b"", {"temperature_c": 21.5, "on": True})])
    sink.close()
    with sqlite3.connect(path) as conn:
        found = conn.execute(
            "SELECT run_id, typeof(signals), json_extract(signals, '$.temperature_c'), "
            "json_extract(signals, '$.on') FROM telemetry"
        ).fetchall()
    assert found == [("run-1", "text", 21.5, 1)]


def test_a_file_of_the_first_version_gets_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as old:
        # The tables exactly as the first version made them.
        old.execute(
            "CREATE TABLE telemetry (device_id TEXT, seq INTEGER, emit_ns INTEGER, "
            "recv_ns INTEGER, topic TEXT, payload BLOB)"
        )
        old.execute(
            "CREATE TABLE malformed (recv_ns INTEGER, topic TEXT, payload BLOB, error TEXT)"
        )
        old.execute("INSERT INTO telemetry VALUES ('dev-0', 0, 1, 2, 't', x'00')")
        old.execute("INSERT INTO malformed VALUES (1, 't', x'ff', 'bad')")
    sink = SqliteSink(path, "run-2")
    try:
        assert sink.rows_before == 1
        sink.write_batch([row(7)])
        sink.write_malformed([])
    finally:
        sink.close()
    with sqlite3.connect(path) as conn:
        stored = conn.execute(
            "SELECT run_id, device_id, seq, json_extract(signals, '$.temperature_c') "
            "FROM telemetry ORDER BY rowid"
        ).fetchall()
        malformed_columns = [r[1] for r in conn.execute("PRAGMA table_info(malformed)")]
    assert stored == [(None, "dev-0", 0, None), ("run-2", "dev-1", 7, 21.5)]
    assert "run_id" in malformed_columns


def test_a_failing_batch_stores_nothing_and_the_sink_stays_usable(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    sink = SqliteSink(path, "run-1")
    try:
        sink.write_batch([row(0)])
        # SQLite cannot bind an arbitrary object: the third row fails after two were inserted.
        with pytest.raises(SinkError, match=r"sqlite sink .*batch of 3 rows") as caught:
            sink.write_batch([row(1), row(2), row(3, payload=object())])
        assert caught.value.reason == "other"
        # Nor an integer beyond 64 bits (a sequence number is unsigned 64-bit).
        with pytest.raises(SinkError, match=r"sqlite sink .*batch of 2 rows"):
            sink.write_batch([row(1), row(2**64 - 1)])
        assert count(path) == 1
        assert sink.rows_written == 1
        sink.write_batch([row(1)])
        assert count(path) == 2
    finally:
        sink.close()


@pytest.mark.parametrize("sizes", [[1, 2, 3], [511, 512, 513], [1300, 7]])
def test_batches_of_any_size_store_every_row_in_order(tmp_path: Path, sizes: list[int]) -> None:
    # A batch goes in as statements of up to MAX_CHUNK_ROWS rows, then halving chunks.
    path = tmp_path / "run.sqlite"
    sink = SqliteSink(path, "run-1")
    seq = 0
    try:
        for size in sizes:
            sink.write_batch([row(n) for n in range(seq, seq + size)])
            seq += size
    finally:
        sink.close()
    assert sink.rows_written == seq == sum(sizes)
    with sqlite3.connect(path) as conn:
        stored = conn.execute("SELECT run_id, seq FROM telemetry ORDER BY rowid").fetchall()
    assert stored == [("run-1", n) for n in range(seq)]


def test_a_write_waits_for_another_writers_lock_and_then_succeeds(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    sink = SqliteSink(path, "run-1", busy_timeout_s=60)
    holder = sqlite3.connect(path, isolation_level=None)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            sink.write_batch([row(0), row(1)])
        except BaseException as exc:  # handed to the test's thread
            errors.append(exc)

    try:
        holder.execute("BEGIN EXCLUSIVE")
        writer = threading.Thread(target=write)
        writer.start()
        # Not a pause for synchronisation: whenever we look, the write must still be waiting,
        # since the lock is held.
        writer.join(timeout=0.5)
        assert writer.is_alive()
        assert sink.rows_written == 0
        holder.execute("COMMIT")
        writer.join(timeout=60)
        assert not writer.is_alive()
        assert errors == []
        assert sink.rows_written == 2
        assert count(path) == 2
    finally:
        holder.close()
        sink.close()


def test_reopening_appends_to_the_same_tables(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    for seq in range(2):
        sink = SqliteSink(path, f"run-{seq}")
        sink.write_batch([row(seq)])
        sink.close()
    assert count(path) == 2


def test_an_unopenable_path_raises_sink_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(SinkError, match="cannot open"):
        SqliteSink(blocker / "run.sqlite", "run-1")


def test_a_directory_is_not_a_database(tmp_path: Path) -> None:
    with pytest.raises(SinkError, match="cannot open") as caught:
        SqliteSink(tmp_path, "run-1")
    assert caught.value.reason == "permission"  # SQLITE_CANTOPEN


@pytest.mark.parametrize("run_id", ["", "it's", "a b", "x" * 65, "drop;table"])
def test_a_run_id_that_could_not_be_a_plain_literal_is_refused(tmp_path: Path, run_id: str) -> None:
    with pytest.raises(ValueError, match="run id"):
        SqliteSink(tmp_path / "run.sqlite", run_id)


def test_a_file_from_earlier_runs_says_how_many_rows_it_held(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    first = SqliteSink(path, "run-1")
    assert first.rows_before == 0
    first.write_batch([row(0), row(1), row(2)])
    first.close()
    second = SqliteSink(path, "run-2")
    try:
        assert second.rows_before == 3
        second.write_batch([row(3)])
        with sqlite3.connect(path) as conn:
            newest = conn.execute("SELECT seq FROM telemetry WHERE rowid > 3").fetchall()
        assert newest == [(3,)]  # this run's rows are the ones after rows_before
        assert second.rows_written == 1
    finally:
        second.close()


def _error(name: str, text: str = "") -> sqlite3.Error:
    exc = sqlite3.OperationalError(text)
    exc.sqlite_errorname = name
    return exc


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (_error("SQLITE_FULL"), "disk_full"),
        (_error("SQLITE_IOERR", "database or disk is full"), "disk_full"),
        (_error("SQLITE_BUSY"), "locked"),
        (_error("SQLITE_BUSY_SNAPSHOT"), "locked"),
        (_error("SQLITE_LOCKED_SHAREDCACHE"), "locked"),
        (_error("SQLITE_READONLY_DBMOVED"), "permission"),
        (_error("SQLITE_CANTOPEN"), "permission"),
        (_error("SQLITE_PERM"), "permission"),
        (_error("SQLITE_AUTH"), "permission"),
        (_error("SQLITE_CONSTRAINT_NOTNULL"), "constraint"),
        (_error("SQLITE_IOERR_WRITE"), "other"),
        (sqlite3.ProgrammingError("Error binding parameter 6"), "other"),
        (PermissionError(13, "Permission denied"), "permission"),
        (OSError(28, "No space left on device"), "disk_full"),
    ],
)
def test_failures_are_told_apart_by_result_code(exc: BaseException, reason: str) -> None:
    assert failure_reason(exc) == reason


def test_several_sinks_opening_one_new_file_at_once_all_open(tmp_path: Path) -> None:
    """Several ingest workers into one file start together: switching a new file to WAL can
    answer SQLITE_BUSY without the busy handler, so the open tries again within the timeout
    (without that, about one round in seven of four sinks failed here)."""
    for attempt in range(20):
        path = tmp_path / f"shared-{attempt}.sqlite"
        start = threading.Barrier(4)
        failed: list[BaseException] = []

        def open_one(
            k: int,
            path: Path = path,
            start: threading.Barrier = start,
            failed: list[BaseException] = failed,
        ) -> None:
            start.wait()
            try:
                SqliteSink(path, f"run-{k}").close()
            except BaseException as exc:
                failed.append(exc)

        threads = [threading.Thread(target=open_one, args=(k,)) for k in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not failed, failed[0]
