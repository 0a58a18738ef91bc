"""The test double's own knobs."""

from __future__ import annotations

import pytest

from simulator.errors import SinkError
from simulator.sinks import Row, Sink
from simulator.sinks.memory import MemorySink


def test_memory_sink_is_a_sink() -> None:
    sink: Sink = MemorySink()
    assert sink.kind == "memory"


def test_fail_next_batch_fails_once_and_stores_nothing() -> None:
    sink = MemorySink()
    sink.fail_next_batch("disk full")
    with pytest.raises(SinkError, match="memory sink: could not write 1 rows: disk full"):
        sink.write_batch([Row("d", 0, 1, 2, "t", b"", {})])
    assert sink.rows_written == 0
    sink.write_batch([Row("d", 0, 1, 2, "t", b"", {})])
    assert sink.rows_written == 1
    assert sink.batches == 1
