"""cnc-machine: its regimes, tool wear and tool changes, parts, and the shift calendar."""

from __future__ import annotations

from itertools import pairwise

from simulator.fleet.cnc_machine import PROGRAM_NAMES, STATE_NAMES, CncMachine
from simulator.fleet.registry import get_model
from simulator.fleet.shift import TWO_SHIFTS, calendar_for
from tests.unit.fleet.runs import SEED, changes, in_state, long_run, settled

RUN = long_run("cnc-machine")


def test_reaches_every_state_and_program() -> None:
    assert {s["state"] for s in RUN} == set(STATE_NAMES)
    assert {s["program"] for s in RUN} == set(PROGRAM_NAMES)
    # Two shifts on weekdays: at most 80 of 168 hours can be spent running.
    running = len(in_state(RUN, "running")) / len(RUN)
    assert 0.15 < running < 80 / 168


def test_off_shift_the_machine_is_idle_and_still() -> None:
    calendar = calendar_for(SEED, TWO_SHIFTS)
    off = [s for s in RUN if not calendar.on_shift(s["t"])]
    assert len(off) > len(RUN) / 3
    assert {s["state"] for s in off} == {"idle"}
    assert all(s["spindle_speed_rpm"] == s["feed_rate_mm_min"] == 0.0 for s in off)


def test_tool_wear_grows_while_cutting_and_resets_only_at_a_tool_change() -> None:
    drops = changes(RUN, lambda a, b: b["tool_wear_pct"] < a["tool_wear_pct"])
    assert len(drops) >= 3
    assert all(s["state"] == "tool_change" and s["tool_wear_pct"] == 0.0 for s in drops)
    for a, b in pairwise(RUN):
        if b["tool_wear_pct"] > a["tool_wear_pct"]:
            assert "running" in (a["state"], b["state"])
    worn = [a for a, b in pairwise(RUN) if b["state"] == "tool_change" != a["state"]]
    assert all(a["tool_wear_pct"] > 90.0 for a in worn)


def test_parts_are_counted_only_while_running() -> None:
    made = changes(RUN, lambda a, b: b["part_count"] > a["part_count"])
    assert len(made) > 100
    for a, b in pairwise(RUN):
        if b["part_count"] != a["part_count"]:
            assert "running" in (a["state"], b["state"])
    assert RUN[-1]["part_count"] - RUN[0]["part_count"] > 500


def test_spindle_stops_in_alarm_and_load_follows_the_tool() -> None:
    alarms = in_state(RUN, "alarm")
    assert alarms
    assert all(
        s["spindle_speed_rpm"] == 0.0 and s["program_state"] == "interrupted" for s in alarms
    )
    running = in_state(RUN, "running")
    assert all(s["spindle_speed_rpm"] > 1000.0 and s["program_state"] == "active" for s in running)
    program = running[0]["program"]
    same = [s for s in running if s["program"] == program]
    fresh = [s["spindle_load_pct"] for s in same if s["tool_wear_pct"] < 20.0]
    worn = [s["spindle_load_pct"] for s in same if s["tool_wear_pct"] > 80.0]
    assert fresh
    assert worn
    assert sum(worn) / len(worn) > 1.1 * sum(fresh) / len(fresh)


def test_axes_warm_while_running_and_z_runs_hottest() -> None:
    # An hour into a regime (three time constants) the axes are near its temperature.
    hot = settled(RUN, "running", 60)
    cold = settled(RUN, "idle", 60)
    assert hot
    assert cold
    assert min(s["axis_temp_z_c"] for s in hot) > max(s["axis_temp_z_c"] for s in cold) + 5.0
    assert all(s["axis_temp_z_c"] > s["axis_temp_y_c"] for s in hot)
    steps = [abs(b["axis_temp_z_c"] - a["axis_temp_z_c"]) for a, b in pairwise(RUN)]
    assert max(steps) < 2.0  # a 20 minute time constant: no jumps


def test_devices_of_one_run_share_the_shift_calendar() -> None:
    model = get_model("cnc-machine")
    assert isinstance(model, CncMachine)
    states = [model.new_state(index, SEED) for index in range(50)]
    assert len({id(state.calendar) for state in states}) == 1
