"""robot: faults that stop the servos and clear, torques that repeat with the cycle."""

from __future__ import annotations

from itertools import pairwise

from simulator.fleet import get_model
from simulator.fleet.robot import FAULT_CODES, RATED_NM, STATE_NAMES
from tests.unit.fleet.runs import SEED, in_state, long_run, settled

RUN = long_run("robot")
TORQUES = tuple(f"joint_torque_{j}_nm" for j in range(1, 7))
TEMPS = tuple(f"joint_temp_{j}_c" for j in range(1, 7))


def test_reaches_every_state_and_faults_clear() -> None:
    assert {s["state"] for s in RUN} == set(STATE_NAMES)
    entered = sum(1 for a, b in pairwise(RUN) if b["state"] == "fault" != a["state"])
    left = sum(1 for a, b in pairwise(RUN) if a["state"] == "fault" != b["state"])
    assert entered >= 3
    assert left >= entered - 1
    assert len(in_state(RUN, "fault")) < 0.02 * len(RUN)  # rare


def test_fault_code_is_set_exactly_while_in_fault() -> None:
    for s in RUN:
        if s["state"] == "fault":
            assert s["fault_code"] in FAULT_CODES
        else:
            assert s["fault_code"] == 0
    assert len({s["fault_code"] for s in in_state(RUN, "fault")}) >= 2


def test_servos_are_off_in_fault_and_the_joints_cool() -> None:
    for s in in_state(RUN, "fault"):
        assert all(s[key] == 0.0 for key in TORQUES)
    running = in_state(RUN, "running")
    assert all(abs(s["joint_torque_2_nm"]) > 0.0 for s in running)
    hot = settled(RUN, "running", 60)
    cold = settled(RUN, "idle", 120)
    assert hot
    assert cold
    for key in TEMPS:
        assert min(s[key] for s in hot) > max(s[key] for s in cold)


def test_torques_repeat_with_the_cycle() -> None:
    model = get_model("robot")
    first = next(s for s in settled(RUN, "running", 5))
    start, cycle_s = first["t"], first["cycle_time_s"]
    # The same device sampled at the same moments, shifted by one cycle and by half a cycle.
    times = [start + k * 0.37 for k in range(100)]
    torques: dict[float, list[float]] = {}
    for shift in (0.0, cycle_s, cycle_s / 2):
        state = model.new_state(5, SEED)
        torques[shift] = [
            float(model.sample(state, seq, t + shift)["joint_torque_2_nm"])
            for seq, t in enumerate(times)
        ]
    same = sum(abs(a - b) for a, b in zip(torques[0.0], torques[cycle_s], strict=True)) / len(times)
    half = sum(abs(a - b) for a, b in zip(torques[0.0], torques[cycle_s / 2], strict=True)) / len(
        times
    )
    assert same < 0.05 * RATED_NM[1]  # only the noise differs
    assert half > 2.0 * same
