"""power-meter: energy that agrees with power, loads that follow the shifts, voltage sags."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest

from simulator.fleet import get_model
from simulator.fleet.noise import unit
from simulator.fleet.power_meter import STATE_NAMES
from simulator.fleet.shift import TWO_SHIFTS, calendar_for
from tests.unit.fleet.runs import SEED, in_state, long_run

RUN = long_run("power-meter")
FINE = long_run("power-meter", weeks=1, interval_s=2.0)  # sags last seconds


def test_reaches_every_state() -> None:
    assert {s["state"] for s in RUN} | {s["state"] for s in FINE} == set(STATE_NAMES)


def test_energy_adds_exactly_power_times_time() -> None:
    model = get_model("power-meter")
    state = model.new_state(9, SEED)
    last_t = last_kwh = 0.0
    t_s = 0.0
    for seq in range(20_000):
        t_s += 0.2 + 40.0 * unit(1, 9, seq) ** 2  # irregular readings
        values = model.sample(state, seq, t_s)
        energy, power = float(values["energy_kwh"]), float(values["power_kw"])
        if seq:
            added = energy - last_kwh
            assert added == pytest.approx(power * (t_s - last_t) / 3600.0, rel=1e-6, abs=1e-9)
        last_t, last_kwh = t_s, energy


def test_energy_over_a_week_matches_the_mean_power() -> None:
    week = [s for s in RUN if s["t"] < 7 * 86_400]
    energy = week[-1]["energy_kwh"] - week[0]["energy_kwh"]
    mean_kw = sum(s["power_kw"] for s in week[1:]) / (len(week) - 1)
    assert energy == pytest.approx(mean_kw * (week[-1]["t"] - week[0]["t"]) / 3600.0)


def test_off_shift_is_base_load_and_production_draws_more() -> None:
    calendar = calendar_for(SEED, TWO_SHIFTS)
    off = [s["power_kw"] for s in RUN if not calendar.on_shift(s["t"])]
    running = [s["power_kw"] for s in in_state(RUN, "running")]
    assert max(off) < min(running)
    peaks = [s["power_kw"] for s in in_state(FINE, "peak")]
    assert min(peaks) > sum(running) / len(running)


def test_voltages_are_230_400_and_sag_in_a_dip() -> None:
    normal = [s for s in FINE if s["state"] != "sag"]
    for s in normal[::50]:
        for phase in ("voltage_l1_v", "voltage_l2_v", "voltage_l3_v"):
            assert 220.0 < s[phase] < 240.0
        assert s["voltage_ll_v"] == pytest.approx(400.0, abs=12.0)
    sags = in_state(FINE, "sag")
    assert sags
    assert all(s["voltage_l1_v"] < 212.0 for s in sags)


def test_current_follows_power_voltage_and_power_factor() -> None:
    for s in RUN[::101]:
        volts = s["voltage_l1_v"] + s["voltage_l2_v"] + s["voltage_l3_v"]
        amps = (s["current_l1_a"] + s["current_l2_a"] + s["current_l3_a"]) / 3.0
        expected = s["power_kw"] * 1000.0 / volts / s["power_factor"]
        assert amps == pytest.approx(expected, rel=0.05)
    light = [s["power_factor"] for s in RUN if s["state"] == "idle"]
    heavy = [s["power_factor"] for s in in_state(RUN, "running")]
    assert sum(light) / len(light) < sum(heavy) / len(heavy)
    assert all(math.isfinite(s["energy_kwh"]) for s in RUN)


def test_sags_are_rare() -> None:
    entered = sum(1 for a, b in pairwise(FINE) if b["state"] == "sag" != a["state"])
    assert 1 <= entered <= 10  # about one per two production days; this is one week
