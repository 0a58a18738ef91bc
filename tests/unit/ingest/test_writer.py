"""The sink writer: a batch counts once committed; failures are retried within bounds, then
counted by reason; a full queue pauses reading. Clock and pauses are fakes: no waiting."""

from __future__ import annotations

import asyncio

from simulator.ingest.writer import SinkWriter
from simulator.sinks import Row
from simulator.sinks.memory import MemorySink


class FakeTime:
    """A clock the writer's pauses move forward, so retries take no wall-clock time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def rows(count: int, start: int = 0) -> list[Row]:
    return [Row("d", seq, 1, 2, "t", b"x", {"v": seq}) for seq in range(start, start + count)]


def make(
    sink: MemorySink, time: FakeTime, *, retry_s: float = 5.0, max_pending: int = 8
) -> tuple[SinkWriter, list[bool]]:
    paused: list[bool] = []
    writer = SinkWriter(
        sink,
        loop=asyncio.get_running_loop(),
        retry_s=retry_s,
        max_pending=max_pending,
        pause=paused.append,
        clock=time.clock,
        sleep=time.sleep,
    )
    return writer, paused


async def test_a_batch_counts_once_committed_with_its_new_messages() -> None:
    sink = MemorySink()
    writer, _ = make(sink, FakeTime())
    writer.submit(rows(3), unique=2)  # one of the three was a duplicate
    assert writer.pending_rows == 3
    await writer.close()
    assert (writer.committed_rows, writer.committed_unique, writer.pending_rows) == (3, 2, 0)
    assert writer.failed_rows == 0
    assert len(sink.rows) == 3


async def test_a_failure_shorter_than_the_retry_time_loses_nothing() -> None:
    sink = MemorySink()
    time = FakeTime()
    writer, _ = make(sink, time, retry_s=5.0)
    sink.fail_batches(4, "database is locked", "locked")
    writer.submit(rows(10), unique=10)
    await writer.close()
    assert writer.committed_unique == 10
    assert writer.failed_rows == 0
    assert writer.retries == 4
    assert time.pauses == [0.05, 0.1, 0.2, 0.4]  # growing pauses between attempts


async def test_rows_are_given_up_by_reason_once_the_outage_outlasts_the_retry_time() -> None:
    sink = MemorySink()
    time = FakeTime()
    writer, _ = make(sink, time, retry_s=2.0)
    sink.fail_batches(1000, "disk is full", "disk_full")
    writer.submit(rows(10), unique=9)
    writer.submit(rows(5, start=10), unique=5)
    await writer.close()
    assert writer.committed_unique == 0
    assert (writer.failed_rows, writer.failed_unique) == (15, 14)
    assert writer.errors == {"disk_full": 15}
    assert writer.first_error is not None
    assert "disk is full" in str(writer.first_error)
    assert sum(time.pauses) <= 2.0  # retried no longer than allowed
    # The second batch came during the outage: it was not retried for another 2 s.
    assert time.now <= 2.0 + 1e-9


async def test_a_sink_that_comes_back_is_used_again_after_giving_up() -> None:
    sink = MemorySink()
    time = FakeTime()
    writer, _ = make(sink, time, retry_s=1.0)
    sink.fail_batches(1000, "disk is full", "disk_full")
    writer.submit(rows(4), unique=4)
    await writer.drain()
    assert writer.failed_unique == 4
    sink.fail_batches(0, "")  # space freed
    time.now += 1.0  # past the probe interval
    writer.submit(rows(6, start=4), unique=6)
    await writer.close()
    assert writer.committed_unique == 6
    assert [r.seq for r in sink.rows] == list(range(4, 10))


async def test_a_closed_sink_is_not_retried() -> None:
    sink = MemorySink()
    time = FakeTime()
    writer, _ = make(sink, time, retry_s=60.0)
    sink.close()
    writer.submit(rows(2), unique=2)
    await writer.drain()
    assert writer.errors == {"closed": 2}
    assert time.pauses == []


async def test_a_full_queue_pauses_reading_and_half_of_it_resumes_it() -> None:
    sink = MemorySink()
    writer, paused = make(sink, FakeTime(), max_pending=2)
    writer.submit(rows(1), unique=1)
    writer.submit(rows(1, start=1), unique=1)
    assert paused == [True]
    await writer.close()
    assert paused == [True, False]
    assert writer.committed_unique == 2


async def test_a_commit_delay_waits_before_each_batch_until_it_is_lifted() -> None:
    sink = MemorySink()
    time = FakeTime()
    writer, _ = make(sink, time)
    writer.commit_delay_s = 0.5
    writer.submit(rows(2), unique=2)
    writer.submit(rows(2, start=2), unique=2)
    await writer.drain()
    assert time.pauses == [0.5, 0.5]
    writer.commit_delay_s = 0.0
    writer.submit(rows(2, start=4), unique=2)
    await writer.close()
    assert time.pauses == [0.5, 0.5]  # lifted: no more waiting
    assert (writer.committed_unique, len(sink.rows)) == (6, 6)
