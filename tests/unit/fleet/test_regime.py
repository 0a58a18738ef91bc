"""Regimes in time: dwell times, exits, shift handling, and the lag curve helper."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import pytest

from simulator.fleet.regime import ABOVE, Chain, Regime, anchor, level_at
from simulator.fleet.shift import TWO_SHIFTS, ShiftCalendar

A, B, OFF = range(3)
CHAIN = Chain(
    (
        Regime("a", 600.0, 60.0, ((B, 0.25), (A, 0.75))),
        Regime("b", 120.0, 30.0, ((A, 1.0),)),
        Regime("off", 1.0, 1.0),
    ),
    rest=OFF,
    start=B,
    initial=(1.0, 0.0),
)
CALENDAR = ShiftCalendar(TWO_SHIFTS, offset_s=6 * 3600)  # the run starts Monday 06:00


def walk(key: int, hours: float) -> list[tuple[int, float, float]]:
    """Every regime of device ``key`` over ``hours``: (regime, start, end)."""
    regime, until, _ = CHAIN.first(key, CALENDAR)
    at = 0.0
    found = []
    while at < hours * 3600:
        found.append((regime, at, until))
        at = until
        regime, until, _ = CHAIN.step(key, regime, at, CALENDAR)
    return found


def test_dwell_has_its_minimum_and_mean() -> None:
    walked = [w for key in range(40) for w in walk(key, 16 * 5)]
    # A dwell cut short by the end of a shift ends off shift; the rest ran their full course.
    on_shift_a = [e - s for r, s, e in walked if r == A and CALENDAR.on_shift(e)]
    assert min(on_shift_a) >= 60.0
    assert sum(on_shift_a) / len(on_shift_a) == pytest.approx(600.0, rel=0.1)


def test_exits_follow_their_odds_and_shift_ends_force_rest() -> None:
    walked = walk(7, 24 * 28)
    after_a = Counter(nxt for (r, _, _), (nxt, _, _) in itertools.pairwise(walked) if r == A)
    assert after_a[B] / sum(after_a.values()) == pytest.approx(0.25, abs=0.04)
    assert after_a[OFF] > 0
    for (regime, _, end), (nxt, start, _) in itertools.pairwise(walked):
        assert start == end
        if nxt == OFF:
            assert not CALENDAR.on_shift(start)
        if regime == OFF:
            assert nxt == B  # every shift begins in the start regime
            assert CALENDAR.on_shift(start)


def test_nothing_but_rest_happens_off_shift() -> None:
    for regime, start, end in walk(3, 24 * 14):
        if regime != OFF:
            assert CALENDAR.on_shift(start)
            assert CALENDAR.on_shift(end - 1.0)


def test_draws_depend_on_key_and_moment() -> None:
    assert walk(1, 48) == walk(1, 48)
    assert walk(1, 48) != walk(2, 48)


@pytest.mark.parametrize(("level", "target"), [(0.0, 1.0), (1.0, 0.2), (0.5, 0.5)])
def test_lag_starts_at_its_level_and_approaches_the_target(level: float, target: float) -> None:
    above, t0 = anchor(level, target, 100.0, 50.0)
    assert above == (ABOVE if level > target else 0)
    assert level_at(target, above, t0, 100.0, 50.0) == pytest.approx(level)
    later = [level_at(target, above, t0, 100.0, 50.0 + k * 10.0) for k in range(200)]
    low, high = min(level, target), max(level, target)
    assert all(low <= x <= high for x in later)
    assert later[-1] == pytest.approx(target, abs=1e-6)
    # After one time constant, 1/e of the gap is left.
    remaining = level_at(target, above, t0, 100.0, 150.0) - target
    assert remaining == pytest.approx((level - target) / math.e)
