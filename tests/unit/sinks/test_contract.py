"""The contract every sink keeps, run against each implementation."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from simulator.errors import SinkError
from simulator.sinks import Malformed, Row, Sink
from simulator.sinks.memory import MemorySink
from simulator.sinks.sqlite import SqliteSink

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
            {},
        )
        for seq in range(start, start + count)
    ]


@dataclass
class Subject:
    """A sink under test and a way to read back what it stored, independently of it."""

    sink: Sink
    stored_rows: Callable[[], list[Row]]
    stored_malformed: Callable[[], list[Malformed]]


def _memory(_: Path) -> Subject:
    sink = MemorySink()
    return Subject(sink, lambda: list(sink.rows), lambda: list(sink.malformed))


def _sqlite(tmp_path: Path) -> Subject:
    path = tmp_path / "runs" / "ingest.sqlite"
    sink = SqliteSink(path)

    def read(sql: str) -> list[Any]:
        # A fresh connection sees only what was committed to the file.
        with sqlite3.connect(path) as conn:
            return conn.execute(sql).fetchall()

    def stored_rows() -> list[Row]:
        return [Row._make((*r, {})) for r in read("SELECT * FROM telemetry ORDER BY rowid")]

    def stored_malformed() -> list[Malformed]:
        return [Malformed(*r) for r in read("SELECT * FROM malformed ORDER BY rowid")]

    return Subject(sink, stored_rows, stored_malformed)


@pytest.fixture(params=[_memory, _sqlite], ids=["memory", "sqlite"])
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Subject]:
    made: Subject = request.param(tmp_path)
    yield made
    made.sink.close()


def test_rows_are_counted_and_readable_back(subject: Subject) -> None:
    first, second = rows("press-1", 3), rows("press-2", 2) + rows("press-1", 2, start=3)
    subject.sink.write_batch(first)
    subject.sink.write_batch(second)
    assert subject.sink.rows_written == 7
    assert subject.stored_rows() == first + second


def test_malformed_messages_are_kept(subject: Subject) -> None:
    bad = [
        Malformed(T0, "plant/x/t", b"\xff\x00garbage", "msgpack: unpack failed"),
        Malformed(T0 + 1, "plant/y/t", b"", "empty payload"),
    ]
    subject.sink.write_malformed(bad)
    assert subject.stored_malformed() == bad
    assert subject.sink.rows_written == 0


def test_empty_batches_are_fine(subject: Subject) -> None:
    subject.sink.write_batch([])
    subject.sink.write_malformed([])
    assert subject.sink.rows_written == 0
    assert subject.stored_rows() == []
    assert subject.stored_malformed() == []


def test_close_is_idempotent(subject: Subject) -> None:
    subject.sink.write_batch(rows("press-1", 1))
    subject.sink.close()
    subject.sink.close()
    assert subject.stored_rows() == rows("press-1", 1)


def test_writing_after_close_raises_sink_error_naming_sink_and_size(subject: Subject) -> None:
    subject.sink.close()
    with pytest.raises(SinkError, match=rf"{subject.sink.kind} sink.*\b5 rows"):
        subject.sink.write_batch(rows("press-1", 5))
    with pytest.raises(SinkError, match=rf"{subject.sink.kind} sink.*\b1 malformed"):
        subject.sink.write_malformed([Malformed(T0, "t", b"", "e")])
    assert subject.sink.rows_written == 0
