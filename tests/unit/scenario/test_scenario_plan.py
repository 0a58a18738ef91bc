"""The pure plan: onboarding schedule and publish phases, checked as properties."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.errors import PlanError
from simulator.scenario import OnboardingPlan, expected_messages, publish_phase_s, publish_slot

devices_st = st.integers(min_value=1, max_value=1_000_000)
rates_st = st.floats(min_value=0.001, max_value=100_000.0)
times_st = st.floats(min_value=-10.0, max_value=2e9, allow_nan=False)


@given(devices_st, rates_st, times_st, times_st)
def test_due_is_monotonic_and_bounded(devices: int, rate: float, t1: float, t2: float) -> None:
    plan = OnboardingPlan(devices, rate)
    early, late = sorted((t1, t2))

    assert 0 <= plan.due(early) <= plan.due(late) <= devices


@given(devices_st, rates_st)
def test_due_reaches_every_device_exactly_at_eta(devices: int, rate: float) -> None:
    plan = OnboardingPlan(devices, rate)
    eta = plan.eta_s()

    assert plan.due(eta) == devices
    assert plan.due(eta * 2 + 1) == devices
    if devices > 1:
        assert plan.due(math.nextafter(eta, -math.inf)) == devices - 1


@given(devices_st, rates_st, st.data())
def test_due_agrees_with_start_times_at_every_boundary(
    devices: int, rate: float, data: st.DataObject
) -> None:
    plan = OnboardingPlan(devices, rate)
    index = data.draw(st.integers(min_value=0, max_value=devices - 1))
    start = plan.start_s(index)

    assert plan.due(start) >= index + 1
    assert plan.due(math.nextafter(start, -math.inf)) <= index


@given(st.integers(min_value=1, max_value=300), rates_st, times_st)
def test_due_counts_the_devices_whose_start_has_come(
    devices: int, rate: float, elapsed: float
) -> None:
    plan = OnboardingPlan(devices, rate)

    assert plan.due(elapsed) == sum(1 for i in range(devices) if plan.start_s(i) <= elapsed)


def test_onboarding_schedule_by_example() -> None:
    plan = OnboardingPlan(devices=1000, rate_per_s=2000.0)

    assert plan.due(-0.001) == 0
    assert plan.due(0.0) == 1
    assert plan.due(0.0004999) == 1
    assert plan.due(0.0005) == 2
    assert plan.due(0.25) == 501
    assert plan.eta_s() == pytest.approx(0.4995)
    assert plan.due(10.0) == 1000


def test_empty_plan() -> None:
    plan = OnboardingPlan(devices=0, rate_per_s=1.0)

    assert plan.due(100.0) == 0
    assert plan.eta_s() == 0.0


@pytest.mark.parametrize(("devices", "rate"), [(-1, 1.0), (1, 0.0), (1, -2.0), (1, math.inf)])
def test_onboarding_plan_rejects_impossible_arguments(devices: int, rate: float) -> None:
    with pytest.raises(PlanError):
        OnboardingPlan(devices, rate)


@given(st.integers(min_value=1, max_value=3000))
def test_publish_slots_are_a_permutation(devices: int) -> None:
    slots = [publish_slot(i, devices) for i in range(devices)]

    assert sorted(slots) == list(range(devices))


@given(st.integers(min_value=1, max_value=3000), st.floats(min_value=0.001, max_value=86_400.0))
def test_publish_phases_lie_within_one_interval(devices: int, interval: float) -> None:
    phases = [publish_phase_s(i, devices, interval) for i in range(0, devices, 7)]

    assert all(0.0 <= phase < interval for phase in phases)


@given(st.integers(min_value=2, max_value=100_000), st.integers(min_value=2, max_value=16))
def test_devices_that_onboard_together_publish_spread_out(devices: int, first: int) -> None:
    # The first k devices to connect should cover the interval, not bunch up in one corner:
    # the largest gap between their phases (going round the interval) stays near 1/k.
    k = min(first, devices)
    phases = sorted(publish_slot(i, devices) / devices for i in range(k))
    gaps = [b - a for a, b in itertools.pairwise(phases)] + [1 - phases[-1] + phases[0]]

    assert max(gaps) <= 3.0 / k


def test_small_fleet_phases_by_example() -> None:
    phases = [publish_phase_s(i, 5, 1.0) for i in range(5)]

    assert sorted(phases) == [0.0, 0.2, 0.4, 0.6, 0.8]
    assert phases[0] == 0.0
    assert all(abs(b - a) > 0.1 for a, b in itertools.pairwise(phases))


@pytest.mark.parametrize(("index", "devices"), [(-1, 5), (5, 5), (0, 0)])
def test_publish_slot_rejects_an_index_outside_the_fleet(index: int, devices: int) -> None:
    with pytest.raises(PlanError):
        publish_slot(index, devices)


@given(
    st.integers(min_value=1, max_value=60),
    st.floats(min_value=0.001, max_value=100.0),
    st.floats(min_value=-1.0, max_value=500.0),
)
def test_expected_messages_matches_counting_each_device(
    devices: int, interval: float, window: float
) -> None:
    exact_interval = Fraction(interval)
    exact_window = Fraction(window)
    counted = 0
    for index in range(devices):
        phase = publish_slot(index, devices) * exact_interval / devices
        if phase < exact_window:
            counted += math.ceil((exact_window - phase) / exact_interval)

    assert expected_messages(devices, interval, window) == counted


def test_expected_messages_by_example() -> None:
    assert expected_messages(1000, 1.0, 20.0) == 20_000
    assert expected_messages(3, 1.0, 0.5) == 2  # phases 0, 1/3 fall before 0.5; 2/3 does not
    assert expected_messages(0, 1.0, 10.0) == 0
    assert expected_messages(10, 1.0, 0.0) == 0


@pytest.mark.parametrize("interval", [0.0, -1.0, math.inf, math.nan])
def test_expected_messages_rejects_impossible_intervals(interval: float) -> None:
    with pytest.raises(PlanError):
        expected_messages(10, interval, 1.0)
