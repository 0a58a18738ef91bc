"""What only the SQLite sink promises: the file layout, WAL, atomic batches, clear errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from simulator.errors import SinkError
from simulator.sinks import Row
from simulator.sinks.sqlite import SqliteSink


def row(seq: int, payload: object = b"x") -> Row:
    return Row("dev-1", seq, 1, 2, "t", payload, {})  # type: ignore[arg-type]


def count(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        result: int = conn.execute("SELECT count(*) FROM telemetry").fetchone()[0]
    return result


def test_creates_parent_directories_tables_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "run.sqlite"
    sink = SqliteSink(path)
    try:
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            columns = [r[1] for r in conn.execute("PRAGMA table_info(telemetry)")]
        assert tables == {"telemetry", "malformed"}
        assert columns == ["device_id", "seq", "emit_ns", "recv_ns", "topic", "payload"]
    finally:
        sink.close()


def test_a_failing_batch_stores_nothing_and_the_sink_stays_usable(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    sink = SqliteSink(path)
    try:
        sink.write_batch([row(0)])
        # SQLite cannot bind an arbitrary object: the third row fails after two were inserted.
        with pytest.raises(SinkError, match=r"sqlite sink .*batch of 3 rows"):
            sink.write_batch([row(1), row(2), row(3, payload=object())])
        assert count(path) == 1
        assert sink.rows_written == 1
        sink.write_batch([row(1)])
        assert count(path) == 2
    finally:
        sink.close()


def test_reopening_appends_to_the_same_tables(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    for seq in range(2):
        sink = SqliteSink(path)
        sink.write_batch([row(seq)])
        sink.close()
    assert count(path) == 2


def test_an_unopenable_path_raises_sink_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(SinkError, match="cannot open"):
        SqliteSink(blocker / "run.sqlite")


def test_a_file_from_earlier_runs_says_how_many_rows_it_held(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    first = SqliteSink(path)
    assert first.rows_before == 0
    first.write_batch([row(0), row(1), row(2)])
    first.close()
    second = SqliteSink(path)
    try:
        assert second.rows_before == 3
        second.write_batch([row(3)])
        with sqlite3.connect(path) as conn:
            newest = conn.execute("SELECT seq FROM telemetry WHERE rowid > 3").fetchall()
        assert newest == [(3,)]  # this run's rows are the ones after rows_before
        assert second.rows_written == 1
    finally:
        second.close()
