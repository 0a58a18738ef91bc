"""vibration-sensor: rare bursts, crest factor, ISO zones and the bearing temperature."""

from __future__ import annotations

from itertools import pairwise

from simulator.fleet.shift import TWO_SHIFTS, calendar_for
from simulator.fleet.vibration_sensor import STATE_NAMES
from tests.unit.fleet.runs import SEED, in_state, long_run, settled

RUN = long_run("vibration-sensor", weeks=2, interval_s=5.0)  # bursts last seconds


def test_reaches_every_state_and_bursts_are_rare() -> None:
    assert {s["state"] for s in RUN} == set(STATE_NAMES)
    bursts = sum(1 for a, b in pairwise(RUN) if b["state"] == "burst" != a["state"])
    running_h = len(in_state(RUN, "running")) * 5.0 / 3600.0
    assert 2 <= bursts <= running_h / 2  # about one per six running hours


def test_bursts_raise_rms_and_crest_factor() -> None:
    running = in_state(RUN, "running")
    bursts = in_state(RUN, "burst")
    mean_rms = sum(s["rms_velocity_mm_s"] for s in running) / len(running)
    assert min(s["rms_velocity_mm_s"] for s in bursts) > 2.0 * mean_rms
    assert min(s["crest_factor"] for s in bursts) > max(s["crest_factor"] for s in running)
    idle = in_state(RUN, "idle")
    assert max(s["rms_velocity_mm_s"] for s in idle) < min(s["rms_velocity_mm_s"] for s in running)


def test_peak_is_rms_times_crest_and_zone_grades_rms() -> None:
    limits = {"A": (0.0, 1.4), "B": (1.4, 2.8), "C": (2.8, 4.5), "D": (4.5, 1e9)}
    for s in RUN[::7]:
        assert abs(s["peak_velocity_mm_s"] - s["rms_velocity_mm_s"] * s["crest_factor"]) < 1e-9
        low, high = limits[s["iso_zone"]]
        assert low <= s["rms_velocity_mm_s"] < high


def test_machine_is_still_off_shift_and_the_bearing_warms_running() -> None:
    calendar = calendar_for(SEED, TWO_SHIFTS)
    off = [s for s in RUN if not calendar.on_shift(s["t"])]
    assert off
    assert {s["state"] for s in off} == {"idle"}
    hot = settled(RUN, "running", 720)  # an hour in
    cold = settled(RUN, "idle", 1440)
    assert hot
    assert cold
    assert min(s["temperature_c"] for s in hot) > max(s["temperature_c"] for s in cold)
