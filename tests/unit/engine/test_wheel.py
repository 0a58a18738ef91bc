"""The timing wheel with a fake clock: drift-free due times, catch-up, overrun counting.

A wheel with ``max_repeats`` above 1 that is a whole interval behind hands each slot's overdue
firings over at once (``repeats``); the helpers here spread them back out into single firings,
so the same expectations hold whether firings came one at a time or merged.
"""

from __future__ import annotations

import math
from typing import TypeVar

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from simulator.engine.scheduler import Scheduler
from simulator.engine.wheel import TimingWheel
from simulator.errors import InvalidArgumentError
from tests.unit.engine.fake_loop import FakeLoop

T = TypeVar("T")


def fire_all(wheel: TimingWheel[T], now: float) -> list[tuple[float, T]]:
    """Every firing due by ``now``, one entry per member and repeat (in the order handed over)."""
    return [
        (due + r * wheel.interval_s, member)
        for due, members, repeats in wheel.advance(now)
        for member in members
        for r in range(repeats)
    ]


def test_members_fire_once_per_interval_at_their_phase() -> None:
    wheel: TimingWheel[str] = TimingWheel(interval_s=1.0, slot_width_s=0.1, epoch=100.0)
    wheel.add("a", 0.0)
    wheel.add("b", 0.55)
    fired = sorted(fire_all(wheel, 102.0))
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


@pytest.mark.parametrize(
    ("interval", "width", "max_repeats"),
    [(0.0, 0.1, 1), (1.0, 0.0, 1), (-1.0, 0.1, 1), (1.0, 0.1, 0)],
)
def test_bad_arguments_are_local_errors(interval: float, width: float, max_repeats: int) -> None:
    with pytest.raises(InvalidArgumentError):
        TimingWheel(interval, width, epoch=0.0, max_repeats=max_repeats)


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
    loop = FakeLoop()
    # One firing at a time (the default), so the budget runs out between firings of a slot.
    wheel: TimingWheel[int] = TimingWheel(1.0, 0.5, epoch=0.0)
    for member in range(10):
        wheel.add(member, 0.0)
    fired: list[tuple[float, int]] = []
    scheduler = Scheduler(loop, budget=15)  # type: ignore[arg-type]
    scheduler.add_wheel(wheel, lambda due, members, repeats: fired.append((due, len(members))))
    loop.now = 3.2  # four firings of 10 members are due: 0, 1, 2, 3 s
    scheduler._tick()
    assert [due for due, _ in fired] == [0.0, 1.0]  # stopped once 20 >= 15 members were done
    assert loop.soon >= 1  # and asked to run again soon, not at a timer
    scheduler._tick()
    assert [due for due, _ in fired] == [0.0, 1.0, 2.0, 3.0]  # nothing skipped, nothing repeated


def test_a_wheel_far_behind_does_not_starve_the_wheels_after_it() -> None:
    """The ping wheel comes after the publish wheels: it must fire while they catch up."""
    loop = FakeLoop()
    publish: TimingWheel[int] = TimingWheel(1.0, 0.01, epoch=0.0)
    for member in range(1000):
        publish.add(member, member / 1000)
    pings: TimingWheel[str] = TimingWheel(30.0, 0.05, epoch=0.0)
    pings.add("gateway", 0.0)
    pinged: list[float] = []
    scheduler = Scheduler(loop, budget=100)  # type: ignore[arg-type]
    scheduler.add_wheel(publish, lambda due, members, repeats: None)
    scheduler.add_wheel(pings, lambda due, members, repeats: pinged.append(due))
    loop.now = 60.5  # 60 s of publishing due: 60,000 firings, 600 ticks' worth of budget
    for _ in range(4):
        scheduler._tick()
    assert pinged == [0.0, 30.0, 60.0]  # not after the publish wheel's whole backlog


def test_a_merged_catch_up_charges_every_firing_against_the_budget() -> None:
    loop = FakeLoop()
    wheel: TimingWheel[int] = TimingWheel(1.0, 0.5, epoch=0.0, max_repeats=8)
    for member in range(10):
        wheel.add(member, 0.0)
        wheel.add(100 + member, 0.5)
    fired: list[tuple[float, int, int]] = []
    scheduler = Scheduler(loop, budget=15)  # type: ignore[arg-type]
    scheduler.add_wheel(
        wheel, lambda due, members, repeats: fired.append((due, len(members), repeats))
    )
    loop.now = 3.2  # a window over indices 0..6: slot 0 has 4 firings, slot 1 has 3
    scheduler._tick()
    assert fired == [(0.0, 10, 4)]  # 10 members but 40 firings: the budget of 15 is spent
    loop.now = 3.7
    scheduler._tick()  # the window first, up to the end it had (index 6); 30 firings again
    assert fired == [(0.0, 10, 4), (0.5, 10, 3)]
    scheduler._tick()
    assert fired == [(0.0, 10, 4), (0.5, 10, 3), (3.5, 10, 1)]


def indexed(wheel: TimingWheel[T], now: float, yields: int | None = None) -> list[tuple[int, T]]:
    """``(index, member)`` of every firing handed over, closing the generator after ``yields``.

    The index counts slot widths from the epoch: repeat ``r`` of a firing at index ``i`` is
    index ``i + r * slot_count``.
    """
    out: list[tuple[int, T]] = []
    firings = wheel.advance(now)
    for n, (due, members, repeats) in enumerate(firings, 1):
        first = round((due - wheel.epoch) / wheel.slot_width_s)
        out += [(first + r * wheel.slot_count, m) for m in members for r in range(repeats)]
        if n == yields:
            firings.close()
    return out


def brute_force(slots: list[int], slot_count: int, last: int) -> list[tuple[int, int]]:
    """Member ``m`` of slot ``slots[m]`` fires at every index of its slot up to ``last``."""
    return sorted(
        (index, member)
        for member, slot in enumerate(slots)
        for index in range(slot, last + 1, slot_count)
    )


def wheel_with(slots: list[int], slot_count: int, max_repeats: int = 100) -> TimingWheel[int]:
    wheel: TimingWheel[int] = TimingWheel(1.0, 1.0 / slot_count, 0.0, max_repeats=max_repeats)
    for member, slot in enumerate(slots):
        wheel.add(member, (slot + 0.5) / slot_count)  # mid-slot: no rounding into a neighbour
    return wheel


def test_less_than_an_interval_behind_hands_over_one_firing_at_a_time() -> None:
    wheel = wheel_with(list(range(10)), 10)
    assert [repeats for _, _, repeats in wheel.advance(0.95)] == [1] * 10
    assert [repeats for _, _, repeats in wheel.advance(1.95)] == [1] * 10


def test_a_window_hands_each_slot_its_overdue_firings_then_carries_on_after_its_end() -> None:
    wheel: TimingWheel[str] = TimingWheel(1.0, 0.25, epoch=0.0, max_repeats=8)
    for slot, member in enumerate("abcd"):
        wheel.add(member, slot * 0.25)
    # 2.6 s: indices 0..10 are due. Slots 0-2 have three firings each, slot 3 two.
    handed = [(due, members[:], repeats) for due, members, repeats in wheel.advance(2.6)]
    assert handed == [(0.0, ["a"], 3), (0.25, ["b"], 3), (0.5, ["c"], 3), (0.75, ["d"], 2)]
    assert fire_all(wheel, 2.6) == []
    assert wheel.next_due() == 2.75
    assert [(due, repeats) for due, _, repeats in wheel.advance(3.1)] == [(2.75, 1), (3.0, 1)]


@pytest.mark.parametrize("max_repeats", [2, 3, 100])
@pytest.mark.parametrize("slot_count", [1, 2, 3, 10])
@pytest.mark.parametrize(
    "nows", [(3.0,), (0.3, 4.75), (2.5, 2.6, 9.99), (0.0, 1.0, 2.0, 3.01), (0.9, 1.1, 7.3)]
)
def test_merged_firings_are_exactly_the_firings_one_at_a_time(
    max_repeats: int, slot_count: int, nows: tuple[float, ...]
) -> None:
    slots = [0, 0, *range(1, slot_count, 2)]  # two members in slot 0, every other slot empty
    merged = wheel_with(slots, slot_count, max_repeats)
    single = wheel_with(slots, slot_count, max_repeats=1)
    got: list[tuple[int, int]] = []
    want: list[tuple[int, int]] = []
    handovers = 0
    for now in nows:
        got += indexed(merged, now)
        want += indexed(single, now)
        handovers += sum(1 for _ in merged.advance(now))  # nothing left due
    assert handovers == 0
    last = math.floor(nows[-1] * slot_count)
    assert sorted(got) == sorted(want) == brute_force(slots, slot_count, last)
    assert merged.overrun == single.overrun


def test_a_wheel_an_interval_behind_merges() -> None:
    merged = wheel_with([0, 1, 2], 3)
    assert [repeats for _, _, repeats in merged.advance(2.5)] == [3, 3, 2]


def test_a_larger_backlog_is_handed_over_in_windows_of_max_repeats_intervals() -> None:
    wheel: TimingWheel[str] = TimingWheel(1.0, 0.25, epoch=0.0, max_repeats=2)
    for slot, member in enumerate("abcd"):
        wheel.add(member, slot * 0.25)
    # 5.1 s: indices 0..20. Windows of two intervals: 0..7, 8..15, then 16..20.
    handed = [(due, members[0], repeats) for due, members, repeats in wheel.advance(5.1)]
    assert handed == [
        (0.0, "a", 2),
        (0.25, "b", 2),
        (0.5, "c", 2),
        (0.75, "d", 2),
        (2.0, "a", 2),
        (2.25, "b", 2),
        (2.5, "c", 2),
        (2.75, "d", 2),
        (4.0, "a", 2),
        (4.25, "b", 1),
        (4.5, "c", 1),
        (4.75, "d", 1),
    ]


def test_an_interrupted_window_resumes_first_and_loses_or_repeats_nothing() -> None:
    wheel: TimingWheel[str] = TimingWheel(1.0, 0.25, epoch=0.0, max_repeats=8)
    for slot, member in enumerate("abcd"):
        wheel.add(member, slot * 0.25)
    firings = wheel.advance(2.6)  # the window covers indices 0..10
    assert [next(firings)[2], next(firings)[2]] == [3, 3]  # a and b: 0, 4, 8 and 1, 5, 9
    firings.close()
    assert wheel.next_due() == 0.5  # c's turn, in the past: the scheduler keeps going
    # Later, indices up to 13 are due: the window ends at 10 as before, then 11-13 one by one.
    handed = [(due, members[:], repeats) for due, members, repeats in wheel.advance(3.3)]
    assert handed == [
        (0.5, ["c"], 3),
        (0.75, ["d"], 2),
        (2.75, ["d"], 1),
        (3.0, ["a"], 1),
        (3.25, ["b"], 1),
    ]


@example(max_repeats=1, slot_count=3, slots=[0], ticks=[(2.9999999999999996, None)])
@given(
    max_repeats=st.integers(min_value=1, max_value=5),
    slot_count=st.integers(min_value=1, max_value=6),
    slots=st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=8),
    ticks=st.lists(
        st.tuples(st.floats(min_value=0.001, max_value=3.0), st.none() | st.integers(1, 4)),
        min_size=1,
        max_size=12,
    ),
)
def test_interrupted_catch_ups_fire_every_member_once_per_index_in_order(
    max_repeats: int, slot_count: int, slots: list[int], ticks: list[tuple[float, int | None]]
) -> None:
    slots = [slot % slot_count for slot in slots]
    wheel = wheel_with(slots, slot_count, max_repeats)
    fired: list[tuple[int, int]] = []
    now = 0.0
    for step, yields in ticks:
        now += step
        fired += indexed(wheel, now, yields)
    fired += indexed(wheel, now)  # let the last tick finish
    by_member = {m: [i for i, member in fired if member == m] for m in range(len(slots))}
    for indices in by_member.values():
        assert indices == sorted(set(indices))  # in order, none twice
    # The last index due is counted as the wheel counts it, in slot widths: at a boundary,
    # now * slot_count can round the other way (2.9999999999999996 * 3 < 9 == it / (1 / 3)).
    last = math.floor(now / wheel.slot_width_s)
    assert sorted(fired) == brute_force(slots, slot_count, last)


def test_overrun_counts_each_late_member_firing_of_a_window() -> None:
    merged: TimingWheel[str] = TimingWheel(1.0, 0.1, epoch=0.0, max_repeats=8)
    single: TimingWheel[str] = TimingWheel(1.0, 0.1, epoch=0.0)
    for wheel in (merged, single):
        wheel.add("a", 0.0)
        wheel.add("b", 0.0)
        wheel.add("c", 0.55)
    assert [repeats for _, _, repeats in merged.advance(3.05)] == [4, 3]
    fire_all(single, 3.05)
    # a and b: due 0, 1, 2 are late, 3.0 is not (0.05 s ago); c: 0.5, 1.5, 2.5 all late.
    assert merged.overrun == single.overrun == 2 * 3 + 3


def test_a_member_leaving_part_way_is_overrun_only_for_the_firings_it_acted_on() -> None:
    wheel: TimingWheel[str] = TimingWheel(1.0, 0.1, epoch=0.0, max_repeats=8)
    for member in "abc":
        wheel.add(member, 0.0)
    acted = {"a": 1, "b": 4, "c": 3}  # of four firings: 0, 1 and 2 s late, 3 s on time
    for _, members, repeats in wheel.advance(3.05):
        assert repeats == 4
        for member in members:
            if acted[member] < repeats:
                wheel.member_left(acted[member])
    assert wheel.overrun == 1 + 3 + 3


def test_without_merging_repeats_is_always_one() -> None:
    wheel = wheel_with([0, 1, 3], 4, max_repeats=1)
    for now in (0.2, 5.0, 5.1, 30.0):
        assert {repeats for _, _, repeats in wheel.advance(now)} <= {1}
    assert len(fire_all(wheel, 30.0)) == 0


def test_skip_to_closes_a_window_without_firing_its_handed_over_repeats_again() -> None:
    wheel: TimingWheel[str] = TimingWheel(1.0, 0.25, epoch=0.0, max_repeats=8)
    for slot, member in enumerate("abcd"):
        wheel.add(member, slot * 0.25)
    firings = wheel.advance(2.6)
    assert next(firings)[2] == 3  # a at 0, 1 and 2 s
    firings.close()
    wheel.skip_to(2.0)  # 2.0 s is a's third firing: already handed over
    assert [(round(due, 6), m) for due, m in fire_all(wheel, 3.3)] == [
        (2.75, "d"),
        (3.0, "a"),
        (3.25, "b"),
    ]
