"""moulding-machine: barrel heating, shots, pressure, and the weekend cool-down."""

from __future__ import annotations

from itertools import pairwise

import pytest

from simulator.fleet.moulding_machine import MATERIALS, STATE_NAMES
from simulator.fleet.shift import THREE_SHIFTS, calendar_for
from tests.unit.fleet.runs import SEED, in_state, long_run, settled

RUN = long_run("moulding-machine")
ZONES = ("barrel_temp_1_c", "barrel_temp_2_c", "barrel_temp_3_c", "barrel_temp_4_c")


def test_reaches_every_state() -> None:
    assert {s["state"] for s in RUN} == set(STATE_NAMES)


def test_running_barrel_holds_a_material_profile_rising_to_the_nozzle() -> None:
    running = settled(RUN, "running", 30)
    assert running
    setpoints = {profile for _, profile in MATERIALS}
    for s in running:
        zones = [s[zone] for zone in ZONES]
        assert zones[0] < zones[2] < zones[3]
        # Near one material's setpoints (3 % short at most, plus noise).
        assert any(
            all(sp - 8.0 < z < sp + 2.0 for z, sp in zip(zones, p, strict=True)) for p in setpoints
        )


def test_the_barrel_cools_over_the_weekend_and_heats_before_production() -> None:
    calendar = calendar_for(SEED, THREE_SHIFTS)
    weekend = [s for s in RUN if not calendar.on_shift(s["t"])]
    assert {s["state"] for s in weekend} == {"idle"}
    assert min(s["barrel_temp_4_c"] for s in weekend) < 40.0
    heating = in_state(RUN, "heating")
    assert heating
    rising = [(a, b) for a, b in pairwise(RUN) if a["state"] == b["state"] == "heating"]
    assert rising
    assert all(b["barrel_temp_4_c"] > a["barrel_temp_4_c"] - 3.0 for a, b in rising)  # noise
    temps = [s["barrel_temp_4_c"] for s in heating]
    assert max(temps) - min(temps) > 100.0
    steps = [abs(b["barrel_temp_4_c"] - a["barrel_temp_4_c"]) for a, b in pairwise(RUN)]
    assert max(steps) < 25.0  # a 10 minute time constant, sampled every minute: no jumps


def test_shots_and_pressure_only_while_running() -> None:
    for a, b in pairwise(RUN):
        if b["shot_count"] != a["shot_count"]:
            assert "running" in (a["state"], b["state"])
    assert all(s["injection_pressure_bar"] == 0.0 for s in RUN if s["state"] != "running")
    running = in_state(RUN, "running")
    assert all(500.0 < s["injection_pressure_bar"] < 1600.0 for s in running)
    shots = RUN[-1]["shot_count"] - RUN[0]["shot_count"]
    assert shots == pytest.approx(sum(60.0 / s["cycle_time_s"] for s in running), rel=0.05)


def test_a_mould_change_changes_cycle_time_and_pressure() -> None:
    cycles = {round(s["cycle_time_s"]) for s in in_state(RUN, "running")}
    assert len(cycles) >= 3
