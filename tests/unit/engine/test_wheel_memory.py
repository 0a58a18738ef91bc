"""A wheel's memory follows its devices, not its interval.

Meters and environmental sensors report every 15 to 60 minutes, and a scenario may set up to a
day: with the fleet's 5 ms slots that is 720,000 to 17.3 M slots per wheel, of which a small
group fills a handful. Memory is measured with tracemalloc (allocations, not wall-clock).
"""

from __future__ import annotations

import tracemalloc

import pytest

from simulator.engine.fleet import SLOT_WIDTH_S
from simulator.engine.publishing import CATCH_UP_REPEATS
from simulator.engine.wheel import TimingWheel


def allocated_by_wheel(interval_s: float, devices: int) -> int:
    """Bytes still allocated after building a fleet-like wheel and adding ``devices`` to it."""
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        wheel: TimingWheel[int] = TimingWheel(
            interval_s, SLOT_WIDTH_S, epoch=0.0, max_repeats=CATCH_UP_REPEATS
        )
        for device in range(devices):
            wheel.add(device, device * interval_s / devices)  # spread like publish_phase_s
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(wheel) == devices
    return after - before


@pytest.mark.parametrize(
    ("interval_s", "slots"), [(3_600.0, 720_000), (86_400.0, 17_280_000)], ids=["hourly", "daily"]
)
def test_a_group_of_ten_slow_reporters_costs_kilobytes(interval_s: float, slots: int) -> None:
    assert TimingWheel(interval_s, SLOT_WIDTH_S, epoch=0.0).slot_count == slots
    assert allocated_by_wheel(interval_s, 10) < 64 * 1024


def test_a_slow_wheel_costs_about_what_a_fast_one_does_for_the_same_devices() -> None:
    fast = allocated_by_wheel(1.0, 200)  # every 5 ms slot of the second holds a device
    assert allocated_by_wheel(86_400.0, 200) < 2 * fast


def test_a_member_of_an_hourly_wheel_fires_at_its_exact_due_time_every_hour() -> None:
    wheel: TimingWheel[str] = TimingWheel(3_600.0, SLOT_WIDTH_S, epoch=50.0)
    wheel.add("meter", 900.0025)  # mid-slot: slot 180,000 starts at 900.0 s
    wheel.add("sensor", 3_599.9975)  # the last slot, 3,599.995 s
    fired: list[tuple[float, str]] = []
    for now in (949.9, 950.0, 2_000.0, 3_649.995, 4_550.0, 7_300.0, 8_000.0):
        fired += [
            (round(due, 6), member) for due, members, _ in wheel.advance(now) for member in members
        ]
    assert fired == [
        (950.0, "meter"),
        (3_649.995, "sensor"),
        (4_550.0, "meter"),
        (7_249.995, "sensor"),
    ]
    assert wheel.overrun == 1  # the sensor's second firing, 50 s late; the rest on time


def test_a_slot_emptied_by_remove_takes_members_again() -> None:
    wheel: TimingWheel[str] = TimingWheel(86_400.0, SLOT_WIDTH_S, epoch=0.0)
    wheel.add("a", 10.0)
    wheel.remove("a", 10.0)
    wheel.remove("a", 10.0)
    wheel.add("b", 10.0)
    assert len(wheel) == 1
    assert [(due, members[:]) for due, members, _ in wheel.advance(10.001)] == [(10.0, ["b"])]
