"""The test double's own knobs."""

from __future__ import annotations

import pytest

from simulator.errors import SinkError
from simulator.sinks import Row, Sink
from simulator.sinks.memory import MemorySink

ROW = Row("d", 0, 1, 2, "t", b"", {})


def test_memory_sink_is_a_sink() -> None:
    sink: Sink = MemorySink()
    assert (sink.kind, sink.run_id, sink.rows_before) == ("memory", "test", 0)


def test_fail_next_batch_fails_once_with_its_reason_and_stores_nothing() -> None:
    sink = MemorySink()
    sink.fail_next_batch("disk full", "disk_full")
    with pytest.raises(
        SinkError, match="memory sink: could not write a batch of 1 rows: disk full"
    ) as caught:
        sink.write_batch([ROW])
    assert caught.value.reason == "disk_full"
    assert sink.rows_written == 0
    sink.write_batch([ROW])
    assert sink.rows_written == 1
    assert sink.batches == 1


def test_fail_batches_fails_that_many_writes_then_stores_again() -> None:
    sink = MemorySink()
    sink.fail_batches(3, "server gone", "connection_lost")
    reasons = []
    for _ in range(3):
        with pytest.raises(SinkError) as caught:
            sink.write_batch([ROW])
        reasons.append(caught.value.reason)
    assert reasons == ["connection_lost"] * 3
    sink.write_batch([ROW])
    assert sink.rows == [ROW]


def test_failures_default_to_reason_other() -> None:
    sink = MemorySink()
    sink.fail_next_batch("boom")
    with pytest.raises(SinkError) as caught:
        sink.write_malformed([])
    assert caught.value.reason == "other"
