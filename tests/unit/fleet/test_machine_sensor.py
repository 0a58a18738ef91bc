"""machine-sensor specifics: the state machine, and signals that behave like a machine."""

from __future__ import annotations

import statistics
from collections import Counter
from itertools import pairwise
from typing import Any

import pytest

from simulator.fleet import get_model
from simulator.fleet.machine_sensor import STATE_NAMES, MachineSensor

SEED = 2024


@pytest.fixture(scope="module")
def model() -> MachineSensor:
    model = get_model("machine-sensor")
    assert isinstance(model, MachineSensor)
    return model


INTERVAL_S = 30.0


def run(model: MachineSensor, index: int, count: int, interval_s: float) -> list[dict[str, Any]]:
    state = model.new_state(index, SEED)
    return [model.sample(state, seq, seq * interval_s) for seq in range(count)]


@pytest.fixture(scope="module")
def long_run(model: MachineSensor) -> list[dict[str, Any]]:
    """One device sampled every 30 s for about 17 days."""
    return run(model, 17, 50_000, INTERVAL_S)


def stretches(samples: list[dict[str, Any]], wanted: str, min_length: int) -> list[list[float]]:
    """Temperatures of every unbroken stretch of ``wanted`` at least ``min_length`` long."""
    found: list[list[float]] = []
    current: list[float] = []
    for values in [*samples, {"state": None}]:
        if values["state"] == wanted:
            current.append(values["temperature_c"])
            continue
        if len(current) >= min_length:
            found.append(current)
        current = []
    return found


def test_chain_reaches_every_state_and_mostly_runs(long_run: list[dict[str, Any]]) -> None:
    counts = Counter(values["state"] for values in long_run)
    assert set(counts) == set(STATE_NAMES)
    assert counts["running"] > 0.7 * len(long_run)
    assert counts["alarm"] < 0.02 * len(long_run)


def test_alarms_clear(long_run: list[dict[str, Any]]) -> None:
    states = [values["state"] for values in long_run]
    entered = sum(1 for a, b in pairwise(states) if b == "alarm" != a)
    left = sum(1 for a, b in pairwise(states) if a == "alarm" != b)
    assert entered >= 2
    assert left >= entered - 1


def by_state(run: list[dict[str, Any]], key: str) -> dict[str, list[float]]:
    grouped: dict[str, list[float]] = {name: [] for name in STATE_NAMES}
    for values in run:
        grouped[values["state"]].append(values[key])
    return grouped


def test_alarm_raises_vibration(long_run: list[dict[str, Any]]) -> None:
    vibration = by_state(long_run, "vibration_mm_s")
    assert min(vibration["alarm"]) > 10.0
    assert min(vibration["alarm"]) > max(vibration["running"])
    assert min(vibration["running"]) >= 2.0
    assert max(vibration["running"]) <= 7.0
    assert max(vibration["idle"]) <= 0.5


def test_running_draws_more_power_than_idle(long_run: list[dict[str, Any]]) -> None:
    power = by_state(long_run, "power_kw")
    assert max(power["idle"]) <= 1.0
    assert min(power["running"]) >= 5.0


def test_power_and_vibration_follow_the_same_load(long_run: list[dict[str, Any]]) -> None:
    running = [v for v in long_run if v["state"] == "running"]
    correlation = statistics.correlation(
        [v["power_kw"] for v in running], [v["vibration_mm_s"] for v in running]
    )
    assert correlation > 0.5


def test_temperature_is_continuous(model: MachineSensor) -> None:
    temperatures = [values["temperature_c"] for values in run(model, 17, 50_000, 1.0)]
    steps = [abs(b - a) for a, b in pairwise(temperatures)]
    # Noise is ±0.1 and the fastest curve moves about 0.2 °C/s; a state change must not make
    # the temperature jump.
    assert max(steps) < 0.5


def test_machine_warms_while_running(long_run: list[dict[str, Any]]) -> None:
    # 100 samples of 30 s is five running time constants: at equilibrium by the end.
    long_runs = stretches(long_run, "running", 100)
    assert long_runs
    for temperatures in long_runs:
        assert 43.0 < temperatures[-1] < 75.0


def test_machine_cools_when_idle(long_run: list[dict[str, Any]]) -> None:
    hot_idles = [t for t in stretches(long_run, "idle", 100) if t[0] > 40.0]
    assert hot_idles
    for temperatures in hot_idles:
        assert temperatures[-1] < temperatures[0] - 10.0
        assert temperatures[-1] > 18.0


def test_devices_start_at_ambient(model: MachineSensor) -> None:
    first = [run(model, index, 1, 1.0)[0]["temperature_c"] for index in range(200)]
    assert all(18.0 <= t <= 26.0 for t in first)
    assert len(set(first)) == len(first)
