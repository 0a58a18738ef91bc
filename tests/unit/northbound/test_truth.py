"""The ground truth and what "equal" means: the same register number after the map's scaling,
correct within the allowed staleness, stale before it, wrong otherwise."""

from __future__ import annotations

import pytest

from simulator.fleet import PlantLayout
from simulator.northbound.truth import GroundTruth, as_float32, same_value
from simulator.scenario.composition import Group
from simulator.southbound.fleet_values import ServedFleet
from simulator.southbound.register_map import RegisterField, RegisterType

SCALED = RegisterField("t", 0, RegisterType.UINT16, scale=1000)
FLOAT = RegisterField("e", 0, RegisterType.FLOAT32)
STATE = RegisterField("s", 0, RegisterType.UINT16, codes=("idle", "running"))
COUNTER = RegisterField("c", 0, RegisterType.UINT32)


def test_a_scaled_value_is_equal_when_it_names_the_same_register_number() -> None:
    assert same_value(SCALED, 12.345, 12345)
    assert same_value(SCALED, 12345 * 0.001, 12345)  # 12.345000000000001
    assert not same_value(SCALED, 12.346, 12345)
    assert not same_value(SCALED, 123.45, 12345)  # a gateway dividing by 100, not 1000
    assert not same_value(SCALED, "12.345", 12345)
    assert not same_value(SCALED, float("nan"), 12345)


def test_a_float32_is_equal_when_it_rounds_to_the_register_float() -> None:
    register = as_float32(255973.37)
    assert same_value(FLOAT, register, register)
    assert same_value(FLOAT, 255973.37, register)  # a gateway printing the shortest decimal
    assert not same_value(FLOAT, 255973.4, register)


def test_a_state_is_its_name_or_its_code_and_a_bool_is_never_a_number() -> None:
    assert same_value(STATE, "running", 1)
    assert same_value(STATE, 1, 1)
    assert not same_value(STATE, "idle", 1)
    assert not same_value(STATE, True, 1)
    assert same_value(COUNTER, 70000, 70000)
    assert not same_value(COUNTER, 70000.5, 70000)
    assert not same_value(COUNTER, None, 70000)


@pytest.fixture
def truth() -> GroundTruth:
    fleet = ServedFleet(
        (Group("cnc-machine", "json", 1.0, 0, 2),),
        PlantLayout(1, 1),
        seed=9,
        devices_per_endpoint=2,
    )
    return GroundTruth(fleet, max_staleness_s=1.0, lookback_s=10.0)


def moving(truth: GroundTruth) -> tuple[int, int]:
    """A field of device 0 and a step at which its value changes, and differs from the
    three steps before."""
    for step in range(20, 40):
        now = truth.numbers_at(0, step + 0.5)
        before = [truth.numbers_at(0, step - k + 0.5) for k in (1, 2, 3)]
        for position, number in enumerate(now):
            if (
                all(b[position] != number for b in before)
                and before[0][position] != before[1][position]
            ):
                return position, step
    raise AssertionError("no moving signal")


def test_a_value_is_correct_within_the_staleness_stale_before_and_wrong_when_never(
    truth: GroundTruth,
) -> None:
    position, step = moving(truth)
    field = truth.fleet.map_of(0).fields[position]
    now = truth.numbers_at(0, step + 0.5)[position]
    old = truth.numbers_at(0, step - 2 + 0.5)[position]
    value = field.value(now)
    match = truth.match(0, position, value, step + 0.2)
    assert (match.verdict, match.step, match.changed_step) == ("correct", step, step)
    # The previous step's value, 0.5 s after it ended: still within 1 s of being true.
    previous = field.value(truth.numbers_at(0, step - 1 + 0.5)[position])
    assert truth.match(0, position, previous, step + 0.5).verdict == "correct"
    # Two steps old at 1.5 s past its end: stale.
    assert truth.match(0, position, field.value(old), step + 1.5).verdict == "stale"
    assert truth.match(0, position, -1, step + 1.5).verdict == "wrong"


def test_a_value_older_than_the_lookback_is_wrong(truth: GroundTruth) -> None:
    position, step = moving(truth)
    field = truth.fleet.map_of(0).fields[position]
    value = field.value(truth.numbers_at(0, step + 0.5)[position])
    fresh = {truth.numbers_at(0, step + 500.5 - k)[position] for k in (0, 1)}
    later = truth.match(0, position, value, step + 500.5)
    # It matches an old step but no step within the 10 s kept: wrong, not stale (unless the
    # signal came back to the same number now, which makes it correct).
    assert later.verdict == ("correct" if field.raw(value) in fresh else "wrong")
