"""A group's pace: the messages its devices send per firing add up to the factor, fairly."""

from __future__ import annotations

import pytest

from simulator.engine.pacing import Pace

DEVICES = 1_000


def sent(pace: Pace, turns: range, interval_s: float = 1.0) -> list[int]:
    """Messages each device sends over ``turns`` of its wheel, due at its phase in each."""
    counts = [0] * DEVICES
    for turn in turns:
        for index in range(DEVICES):
            counts[index] += pace.messages((turn + index / DEVICES) * interval_s, index)
    return counts


@pytest.mark.parametrize("factor", [0.0, 0.25, 0.5, 1.0, 1.7, 3.0])
def test_the_fleet_sends_the_factor_and_each_device_its_share(factor: float) -> None:
    pace = Pace(1.0)
    pace.set(0.0, factor)

    counts = sent(pace, range(1, 41))

    assert sum(counts) == pytest.approx(factor * DEVICES * 40, abs=DEVICES)
    # Fair: every device sends its share, give or take the firings at either end.
    assert max(counts) - min(counts) <= 2


def test_a_factor_of_one_sends_exactly_one_per_firing() -> None:
    pace = Pace(0.5)
    pace.set(0.0, 1.0)

    assert {pace.messages(t / 7, index) for t in range(50) for index in range(20)} == {1}


def test_a_change_of_factor_takes_effect_from_its_moment() -> None:
    pace = Pace(1.0)
    pace.set(0.0, 0.5)
    before = sum(sent(pace, range(1, 11)))
    pace.set(11.0, 2.0)
    after = sum(sent(pace, range(12, 22)))

    assert before == pytest.approx(0.5 * DEVICES * 10, abs=DEVICES)
    assert after == pytest.approx(2.0 * DEVICES * 10, abs=DEVICES)
