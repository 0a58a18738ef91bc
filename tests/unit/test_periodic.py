"""The periodic tick keeps its schedule: each tick at ``start + n * interval``, however long the
work after the previous one took. Driven on a clock the test moves: no wall time passes."""

from __future__ import annotations

import asyncio

import pytest

from simulator import periodic
from tests.fake_clock import FakeClock


async def test_ticks_keep_the_schedule_however_late_the_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock(100.0)
    monkeypatch.setattr(asyncio.get_running_loop(), "time", clock)
    waits: list[float] = []

    async def sleep(delay: float) -> None:
        waits.append(delay)
        clock.now += delay

    monkeypatch.setattr("simulator.periodic.asyncio.sleep", sleep)
    ticks = periodic.every(1.0)
    assert await anext(ticks) == 1
    assert clock.now == 101.0
    clock.now += 0.25  # the work after tick 1
    assert await anext(ticks) == 2
    assert clock.now == 102.0  # not 102.25: the schedule does not drift
    clock.now += 2.5  # work that overran tick 3's time
    assert await anext(ticks) == 3
    assert clock.now == 104.5  # tick 3 at once, late
    assert await anext(ticks) == 4
    assert clock.now == 104.5  # tick 4 was due at 104: at once too
    assert await anext(ticks) == 5
    assert clock.now == 105.0  # and tick 5 back on schedule
    assert waits == [1.0, 0.75, 0.0, 0.0, 0.5]
    await ticks.aclose()
