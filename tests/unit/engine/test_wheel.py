"""The timing wheel with a fake clock: drift-free due times, catch-up, overrun counting."""

from __future__ import annotations

from typing import TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.engine.wheel import TimingWheel
from simulator.errors import LocalProtocolError

T = TypeVar("T")


def fire_all(wheel: TimingWheel[T], now: float) -> list[tuple[float, T]]:
    return [(due, member) for due, members in wheel.advance(now) for member in members]


def test_members_fire_once_per_interval_at_their_phase() -> None:
    wheel: TimingWheel[str] = TimingWheel(interval_s=1.0, slot_width_s=0.1, epoch=100.0)
    wheel.add("a", 0.0)
    wheel.add("b", 0.55)
    fired = fire_all(wheel, 102.0)
    assert [(round(due, 6), m) for due, m in fired] == [
        (100.0, "a"),
        (100.5, "b"),
        (101.0, "a"),
        (101.5, "b"),
        (102.0, "a"),
    ]


def test_nothing_fires_before_its_due_time() -> None:
    wheel: TimingWheel[str] = TimingWheel(1.0, 0.25, epoch=10.0)
    wheel.add("late", 0.5)
    assert fire_all(wheel, 10.49) == []
    assert [m for _, m in fire_all(wheel, 10.5)] == ["late"]
    assert fire_all(wheel, 10.5) == []


def test_due_times_do_not_drift_with_irregular_ticks() -> None:
    wheel: TimingWheel[str] = TimingWheel(0.1, 0.01, epoch=0.0)
    wheel.add("x", 0.0)
    dues: list[float] = []
    now = 0.0
    for step in (0.013, 0.2, 0.001, 0.37, 0.05, 1.0):
        now += step
        dues += [due for due, _ in fire_all(wheel, now)]
    # Exactly one firing per interval boundary, each at n * interval.
    assert [round(d, 9) for d in dues] == [round(n * 0.1, 9) for n in range(len(dues))]
    assert len(dues) == int(now / 0.1 + 1e-9) + 1


def test_late_processing_is_counted_as_overrun() -> None:
    wheel: TimingWheel[str] = TimingWheel(1.0, 0.1, epoch=0.0)
    wheel.add("a", 0.0)
    wheel.add("b", 0.0)
    fire_all(wheel, 0.05)
    assert wheel.overrun == 0
    fire_all(wheel, 1.5)  # slot due at 1.0 is processed 0.5 s late: both members overrun
    assert wheel.overrun == 2


def test_skip_to_forgets_the_past_without_counting_it() -> None:
    wheel: TimingWheel[str] = TimingWheel(1.0, 0.1, epoch=0.0)
    wheel.add("a", 0.0)
    wheel.skip_to(5.05)
    fired = fire_all(wheel, 6.0)
    assert [round(d, 6) for d, _ in fired] == [6.0]
    assert wheel.overrun == 0


def test_remove_takes_a_member_out_and_ignores_strangers() -> None:
    wheel: TimingWheel[str] = TimingWheel(1.0, 0.1, epoch=0.0)
    wheel.add("a", 0.3)
    wheel.remove("a", 0.3)
    wheel.remove("never-added", 0.3)
    assert len(wheel) == 0
    assert fire_all(wheel, 3.0) == []


def test_interval_is_split_into_whole_slots() -> None:
    wheel: TimingWheel[str] = TimingWheel(1.0, 0.3, epoch=0.0)
    assert wheel.slot_count == 3
    assert wheel.slot_width_s == pytest.approx(1 / 3)


@pytest.mark.parametrize(("interval", "width"), [(0.0, 0.1), (1.0, 0.0), (-1.0, 0.1)])
def test_bad_arguments_are_local_errors(interval: float, width: float) -> None:
    with pytest.raises(LocalProtocolError):
        TimingWheel(interval, width, epoch=0.0)


@given(
    phases=st.lists(st.floats(min_value=0, max_value=0.999), min_size=1, max_size=30),
    ticks=st.lists(st.floats(min_value=0.001, max_value=0.7), min_size=1, max_size=40),
)
def test_every_member_fires_once_per_elapsed_interval(
    phases: list[float], ticks: list[float]
) -> None:
    wheel: TimingWheel[int] = TimingWheel(1.0, 0.01, epoch=0.0)
    for i, phase in enumerate(phases):
        wheel.add(i, phase)
    counts = dict.fromkeys(range(len(phases)), 0)
    now = 0.0
    for step in ticks:
        now += step
        for _, member in fire_all(wheel, now):
            counts[member] += 1
    for i, phase in enumerate(phases):
        slot_start = wheel.slot_for_phase(phase) * wheel.slot_width_s
        expected = 0 if now < slot_start else int((now - slot_start) // 1.0 + 1e-9) + 1
        assert abs(counts[i] - expected) <= 1  # float rounding at an exact boundary


def test_a_scheduler_tick_yields_after_its_budget_and_resumes_where_it_stopped() -> None:
    from simulator.engine.scheduler import Scheduler

    class FakeHandle:
        def cancel(self) -> None:
            pass

    class FakeLoop:
        """Just enough of a loop: a settable clock, and call_soon/call_at counted."""

        def __init__(self) -> None:
            self.now = 0.0
            self.soon = 0

        def time(self) -> float:
            return self.now

        def call_soon(self, callback: object) -> FakeHandle:
            self.soon += 1
            return FakeHandle()

        def call_at(self, when: float, callback: object) -> FakeHandle:
            return FakeHandle()

    loop = FakeLoop()
    wheel: TimingWheel[int] = TimingWheel(1.0, 0.5, epoch=0.0)
    for member in range(10):
        wheel.add(member, 0.0)
    fired: list[tuple[float, int]] = []
    scheduler = Scheduler(loop, budget=15)  # type: ignore[arg-type]
    scheduler.add_wheel(wheel, lambda due, members: fired.append((due, len(members))))
    loop.now = 3.2  # four firings of 10 members are due: 0, 1, 2, 3 s
    scheduler._tick()
    assert [due for due, _ in fired] == [0.0, 1.0]  # stopped once 20 >= 15 members were done
    assert loop.soon >= 1  # and asked to run again soon, not at a timer
    scheduler._tick()
    assert [due for due, _ in fired] == [0.0, 1.0, 2.0, 3.0]  # nothing skipped, nothing repeated
