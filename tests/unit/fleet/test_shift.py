"""The shift calendar: on-shift windows over a week and a run start drawn from the seed."""

from __future__ import annotations

import pytest

from simulator.fleet.shift import (
    DAY_S,
    THREE_SHIFTS,
    TWO_SHIFTS,
    WEEK_S,
    ShiftCalendar,
    calendar_for,
    plant_offset_s,
)

HOUR = 3600


def test_two_shifts_cover_weekdays_six_to_ten() -> None:
    monday = ShiftCalendar(TWO_SHIFTS, offset_s=0)  # run time 0 is Monday 00:00
    assert not monday.on_shift(5 * HOUR + 59 * 60)
    assert monday.on_shift(6 * HOUR + 1)
    assert monday.on_shift(21 * HOUR + 59 * 60)
    assert not monday.on_shift(22 * HOUR + 1)
    assert monday.on_shift(4 * DAY_S + 12 * HOUR)  # Friday noon
    assert not monday.on_shift(5 * DAY_S + 12 * HOUR)  # Saturday noon
    on_hours = sum(monday.on_shift(h * HOUR + 1800) for h in range(7 * 24))
    assert on_hours == 5 * 16


def test_three_shifts_run_from_monday_to_saturday_morning() -> None:
    calendar = ShiftCalendar(THREE_SHIFTS, offset_s=0)
    assert calendar.on_shift(2 * DAY_S + 3 * HOUR)  # Wednesday 03:00
    assert not calendar.on_shift(5 * DAY_S + 7 * HOUR)  # Saturday 07:00
    assert sum(calendar.on_shift(h * HOUR + 1800) for h in range(7 * 24)) == 5 * 24


def test_next_change_is_the_next_boundary_and_always_later() -> None:
    calendar = ShiftCalendar(TWO_SHIFTS, offset_s=0)
    on, change = calendar.at(3 * HOUR)
    assert not on
    assert change == pytest.approx(6 * HOUR, abs=0.01)
    # Stepping from change to change walks the boundaries forward, never stalling on one.
    t_s, flips = 0.0, []
    for _ in range(22):
        on, t_s = calendar.at(t_s)
        flips.append((on, round(t_s / HOUR, 3)))
    assert flips[:4] == [(False, 6.0), (True, 22.0), (False, 30.0), (True, 46.0)]
    assert flips[-1][1] > WEEK_S / HOUR  # wrapped into the next week


def test_offset_moves_the_run_start_within_the_week() -> None:
    calendar = ShiftCalendar(TWO_SHIFTS, offset_s=6 * HOUR)  # run starts Monday 06:00
    assert calendar.on_shift(1.0)
    assert calendar.at(1.0)[1] == pytest.approx(16 * HOUR, abs=0.01)


def test_shift_start_is_the_current_or_last_shift() -> None:
    calendar = ShiftCalendar(TWO_SHIFTS, offset_s=0)
    assert calendar.shift_start(10 * HOUR) == pytest.approx(6 * HOUR, abs=0.01)
    assert calendar.shift_start(23 * HOUR) == pytest.approx(6 * HOUR, abs=0.01)
    assert calendar.shift_start(DAY_S + 7 * HOUR) == pytest.approx(DAY_S + 6 * HOUR, abs=0.01)
    # Monday 03:00: the last shift was Friday's, in the week before the run.
    assert calendar.shift_start(3 * HOUR) == pytest.approx(6 * HOUR - 3 * DAY_S, abs=0.01)


def test_the_run_start_is_drawn_from_the_seed_and_shared() -> None:
    offsets = {plant_offset_s(seed) for seed in range(200)}
    assert len(offsets) > 190
    assert all(0 <= offset < WEEK_S for offset in offsets)
    assert plant_offset_s(42) == plant_offset_s(42)
    assert calendar_for(42, TWO_SHIFTS) is calendar_for(42, TWO_SHIFTS)
    assert calendar_for(42, TWO_SHIFTS).offset_s == calendar_for(42, THREE_SHIFTS).offset_s
    # Over many seeds a run starts on shift about as often as the week is on shift.
    on = sum(calendar_for(seed, TWO_SHIFTS).on_shift(0.0) for seed in range(400))
    assert 0.38 < on / 400 < 0.58  # 80 of 168 hours


@pytest.mark.parametrize(
    "windows",
    [(), ((10, 5),), ((0, 10), (5, 20)), ((0, WEEK_S),), ((0, WEEK_S + 1),), ((0, 5), (5, 9))],
)
def test_bad_windows_are_refused(windows: tuple[tuple[int, int], ...]) -> None:
    with pytest.raises(ValueError, match="shift"):
        ShiftCalendar(windows, 0)
