"""When the worker reads: at once after a quiet spell, once an interval while busy, never while
the writer's queue is full. Driven on a clock and timers the test moves; no loop, no socket."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from simulator.ingest.reading import ReadPacing

INTERVAL = 0.002


class Timer:
    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Timers:
    """A clock the test moves, and the timers armed on it, run as time passes them."""

    def __init__(self) -> None:
        self.now = 0.0
        self.armed: list[Timer] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(when, callback)
        self.armed.append(timer)
        return timer

    def advance(self, seconds: float) -> None:
        self.now += seconds
        due = [t for t in self.armed if t.when <= self.now]
        self.armed = [t for t in self.armed if t.when > self.now]
        for timer in due:
            if not timer.cancelled:
                timer.callback()


def pacing(interval: float = INTERVAL) -> tuple[ReadPacing, Timers, list[bool]]:
    timers = Timers()
    reading: list[bool] = []
    return ReadPacing(interval, timers, reading.append), timers, reading


def test_reads_after_a_quiet_spell_do_not_rest() -> None:
    pace, timers, reading = pacing()
    for _ in range(5):
        pace.read()
        timers.advance(0.01)  # a message every 10 ms: each read alone
    assert reading == []
    assert pace.rests == 0


def test_a_read_on_the_heels_of_the_last_rests_an_interval() -> None:
    pace, timers, reading = pacing()
    pace.read()
    timers.advance(0.0001)
    pace.read()
    assert pace.resting
    assert reading == [False]
    assert [t.when for t in timers.armed] == [pytest.approx(0.0001 + INTERVAL)]
    timers.advance(INTERVAL / 2)
    assert reading == [False]  # still resting
    timers.advance(INTERVAL / 2)
    assert reading == [False, True]
    assert not pace.resting
    assert pace.rests == 1


def test_under_steady_traffic_it_reads_once_an_interval() -> None:
    pace, timers, _ = pacing()
    reads = 0
    # Data is always waiting: whenever reading is on, a read comes 10 µs later.
    for _ in range(1000):
        if not pace.resting:
            pace.read()
            reads += 1
        timers.advance(0.00001)
    # 10 ms of traffic: about one read an interval (the first two come before any rest).
    assert reads == pytest.approx(0.01 / INTERVAL + 1, abs=1)
    assert pace.rests == reads - 1


def test_the_writers_pause_outlasts_a_rest() -> None:
    pace, timers, reading = pacing()
    pace.read()
    pace.read()  # busy: rests
    pace.writer_full(True)
    timers.advance(INTERVAL)
    assert reading == [False, False]  # the rest ended, but the writer is still full
    pace.writer_full(False)
    assert reading == [False, False, True]


def test_room_in_the_writer_does_not_end_a_rest() -> None:
    pace, timers, reading = pacing()
    pace.writer_full(True)
    pace.read()
    pace.read()
    pace.writer_full(False)
    assert reading == [False, False]  # still resting
    timers.advance(INTERVAL)
    assert reading == [False, False, True]


def test_no_interval_reads_whenever_data_comes() -> None:
    pace, timers, reading = pacing(0.0)
    for _ in range(10):
        pace.read()
    assert reading == []
    assert timers.armed == []
    pace.writer_full(True)
    pace.writer_full(False)
    assert reading == [False, True]


def test_cancel_calls_off_a_rest_without_resuming() -> None:
    pace, timers, reading = pacing()
    pace.read()
    pace.read()
    pace.cancel()
    timers.advance(INTERVAL)
    assert reading == [False]
    assert not pace.resting
