"""plc-line: its regimes, the cycle counter, and OEE figures that behave like OEE."""

from __future__ import annotations

from itertools import pairwise

import pytest

from simulator.fleet.plc_line import STATE_NAMES
from simulator.fleet.shift import THREE_SHIFTS, calendar_for
from tests.unit.fleet.runs import SEED, in_state, long_run

RUN = long_run("plc-line")


def test_reaches_every_state_and_mostly_runs_on_shift() -> None:
    assert {s["state"] for s in RUN} == set(STATE_NAMES)
    calendar = calendar_for(SEED, THREE_SHIFTS)
    on_shift = [s for s in RUN if calendar.on_shift(s["t"])]
    assert len(in_state(on_shift, "running")) > 0.5 * len(on_shift)
    # The weekend is not planned: idle from Saturday 06:00 to Monday 06:00.
    off_shift = [s for s in RUN if not calendar.on_shift(s["t"])]
    assert len(off_shift) == pytest.approx(len(RUN) * 48 / 168, rel=0.02)
    assert {s["state"] for s in off_shift} == {"idle"}


def test_cycles_are_counted_at_the_line_speed_only_while_running() -> None:
    for a, b in pairwise(RUN):
        if b["cycle_count"] != a["cycle_count"]:
            assert "running" in (a["state"], b["state"])
    # Sampled every 10 s, a stop (30 s or more) cannot hide between two running samples.
    fine = long_run("plc-line", weeks=1, interval_s=10.0)
    pairs = [(a, b) for a, b in pairwise(fine) if a["state"] == b["state"] == "running"]
    for a, b in pairs:
        assert b["cycle_count"] - a["cycle_count"] <= 10.0 / b["cycle_time_s"] + 1.1
    counted = sum(b["cycle_count"] - a["cycle_count"] for a, b in pairs)
    expected = sum(10.0 / b["cycle_time_s"] for _, b in pairs)
    assert counted == pytest.approx(expected, rel=0.02)


def test_availability_rises_while_running_and_falls_while_stopped() -> None:
    fine = long_run("plc-line", weeks=1, interval_s=10.0)
    for a, b in pairwise(fine):
        if a["state"] == b["state"] == "running":
            assert b["availability"] >= a["availability"]
        elif a["state"] == b["state"] and a["state"] in ("fault", "maintenance", "starved"):
            assert b["availability"] <= a["availability"]
    figures = [s["availability"] for s in RUN]
    assert max(figures) - min(figures) > 0.2


def test_weekend_holds_the_last_figures() -> None:
    calendar = calendar_for(SEED, THREE_SHIFTS)
    weekend = [s for s in RUN if not calendar.on_shift(s["t"])]
    stretch = weekend[: 48 * 60 - 1]  # the first weekend, all of it
    assert len({s["availability"] for s in stretch}) == 1
    assert len({s["performance"] for s in stretch}) == 1


def test_oee_is_the_product_of_its_factors() -> None:
    for s in RUN[::97]:
        product = s["availability"] * s["performance"] * s["quality"]
        assert s["oee"] == pytest.approx(product)
    assert all(0.95 <= s["quality"] <= 1.0 for s in RUN)
    running = in_state(RUN, "running")
    assert len({round(s["performance"], 2) for s in running}) > 3  # each run has its speed
