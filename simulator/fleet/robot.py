"""The ``robot`` model: a six-axis industrial robot in a cell, on a two-shift week.

Regimes (see :mod:`simulator.fleet.regime`; minimum dwell, mean in brackets):

===============  ===============  =========================================================
state            dwell            then
===============  ===============  =========================================================
``idle``         2 min (10 min)   running 85 %, teach 15 %; servos on, holding its pose;
                                  off shift: idle until the next shift
``teach``        10 min (30 min)  running; a new motion program (one of 8) is taught
``running``      10 min (90 min)  idle 55 %, fault 30 %, teach 10 %, maintenance 5 %;
                                  whole cycles only
``fault``        1 min (5 min)    running 70 %, idle 30 %: faults clear
``maintenance``  30 min (90 min)  teach
===============  ===============  =========================================================

So a robot faults about once per five running hours and every fault clears within minutes. While
in ``fault`` it reports a non-zero ``fault_code`` (collision, overtemperature, servo overload,
emergency stop, ...: :data:`FAULT_CODES`) and its servos are off: every joint torque is 0 and the
joints cool. Otherwise ``fault_code`` is 0.

Running, the joint torques follow the program's motion profile through each cycle (gravity and
acceleration terms per joint, scaled by the payload the robot carries), so they repeat with the
cycle time and the cycle counter goes up once per cycle. Idle and teaching, the servos hold the
arm against gravity. Joint temperatures follow one thermal level (30 minute time constant), each
joint with its own rise; the big base and shoulder motors run hottest. ``cycle_time_s`` is the
program's cycle time (the last program's when stopped).
"""

from __future__ import annotations

import math

from simulator.fleet.model import SampleValue, Signal
from simulator.fleet.noise import NOISE_ROWS, NOISE_STEP, ROW_MASK, uniform_draws
from simulator.fleet.regime import ABOVE, Chain, Regime, RegimeState, enter, level_at
from simulator.fleet.regime_model import PROFILE_MASK, RegimeModel, state_signals, whole_cycles
from simulator.fleet.shift import TWO_SHIFTS, ShiftCalendar

IDLE, TEACH, RUNNING, FAULT, MAINTENANCE, OFF = range(6)
_MIN = 60.0
CHAIN = Chain(
    (
        Regime("idle", 10 * _MIN, 2 * _MIN, ((RUNNING, 0.85), (TEACH, 0.15))),
        Regime("teach", 30 * _MIN, 10 * _MIN, ((RUNNING, 1.0),)),
        Regime(
            "running",
            90 * _MIN,
            10 * _MIN,
            ((IDLE, 0.55), (FAULT, 0.3), (TEACH, 0.1), (MAINTENANCE, 0.05)),
        ),
        Regime("fault", 5 * _MIN, 1 * _MIN, ((RUNNING, 0.7), (IDLE, 0.3))),
        Regime("maintenance", 90 * _MIN, 30 * _MIN, ((TEACH, 1.0),)),
        Regime("idle", 1.0, 1.0),  # off shift: ends when the next shift starts
    ),
    rest=OFF,
    start=IDLE,
    initial=(0.15, 0.05, 0.75, 0.02, 0.03),
)
"""The regimes, numbered as the constants above."""
_NAME = CHAIN.names  # one lookup in the hot path

STATE_NAMES = CHAIN.state_names
"""Every state a sample reports."""

FAULT_CODES = (1001, 2013, 3002, 4004, 5010, 6021, 7003, 8017)
"""Collision, joint overtemperature, servo overload, emergency stop, communication timeout,
gripper fault, safety fence open, encoder error."""

RATED_NM = (150.0, 300.0, 150.0, 40.0, 40.0, 20.0)
"""Rated torque of joints 1-6 (base to wrist), Nm."""
_RISE_C = (25.0, 35.0, 28.0, 18.0, 16.0, 12.0)  # joint temperature rise running, °C
_HEAT = (0.15, 0.3, 1.0, 0.0, 0.0, 0.0)  # thermal level each regime approaches
_SERVO_ON = (True, True, True, False, False, True)  # holding the arm, or off (fault, maintenance)
_TAU_S = 1800.0
_PROGRAMS = 8
_PHASES = 64
_NOISE_NM = 0.02  # torque noise, share of rated torque per standard deviation
_MODEL_TAG = 6
_PROFILE_SEED = 0x726F62
_TEMP_NOISE_C = 0.2
_START_CYCLES = 1_000_000

Torques = tuple[float, float, float, float, float, float]
Profile = tuple[float, float, tuple[float, ...]]
NoiseRow = tuple[float, float, float, float, float, float, float, float, float, float, float, float]


class RobotState(RegimeState):
    """One robot: key, mode, regime end, thermal anchor, cycles, calendar (188 bytes).

    ``mode`` packs the regime (bits 0-2), the thermal curve's direction (bit 3) and the motion
    program (bits 4-6) into one cached small int; ``cycles`` is the count at ``until``. The
    fault code needs no slot: it is drawn from ``until``, fixed while the fault lasts.
    """

    __slots__ = ("cycles",)

    def __init__(self, key: int, calendar: ShiftCalendar, cycles: int) -> None:
        super().__init__(key, calendar)
        self.cycles = cycles
        """Cycle counter at ``until``."""


def _motion(program: int) -> tuple[float, tuple[Torques, ...], Torques]:
    """Cycle time, the torque of each joint at each phase of the cycle, and the holding torques."""

    draw = uniform_draws(_PROFILE_SEED, 4096 + program)
    gravity = [draw(j, 0.3, 0.5) if j in (1, 2) else draw(j, 0.05, 0.25) for j in range(6)]
    dynamic = [draw(10 + j, 0.1, 0.35) for j in range(6)]
    shifts = [draw(20 + j, 0.0, 2.0 * math.pi) for j in range(6)]

    def torques(phase: float) -> Torques:
        angle = 2.0 * math.pi * phase
        t = [
            RATED_NM[j]
            * (
                gravity[j] * math.cos(angle + shifts[j])
                + dynamic[j] * math.sin(2.0 * angle + shifts[j])
            )
            for j in range(6)
        ]
        return (t[0], t[1], t[2], t[3], t[4], t[5])

    hold = tuple(RATED_NM[j] * gravity[j] * math.cos(shifts[j]) for j in range(6))
    return (
        draw(30, 8.0, 40.0),
        tuple(torques(p / _PHASES) for p in range(_PHASES)),
        (hold[0], hold[1], hold[2], hold[3], hold[4], hold[5]),
    )


def _make_profile(number: int) -> Profile:
    draw = uniform_draws(_PROFILE_SEED, number)
    scale = draw(1, 0.8, 1.2)
    return (
        draw(0, 18.0, 26.0),  # ambient, °C
        draw(2, 0.7, 1.1),  # payload scale of the torques
        tuple(rise * scale for rise in _RISE_C),
    )


def _noise_rows(
    rows: tuple[tuple[float, ...], ...],
) -> tuple[tuple[NoiseRow, ...], tuple[NoiseRow, ...]]:
    """The shared noise ``rows`` already in Nm and °C: 6 torques, 6 temperatures; and the same
    rows with the torques at 0, for servos off.

    Scaling once here instead of 12 multiplications per sample is most of what makes the robot,
    the model with the most signals, as fast as the others. The quiet rows share the
    temperature floats of the others.
    """
    torque_sd = [_NOISE_NM * rated for rated in RATED_NM]
    table = []
    quiet = []
    for number, row in enumerate(rows):
        other = rows[(number + NOISE_ROWS // 2) & ROW_MASK]  # 12 draws: two rows
        t = [sd * n for sd, n in zip(torque_sd, row[:6], strict=True)]
        c1, c2, c3, c4, c5, c6 = (_TEMP_NOISE_C * n for n in (*row[6:], *other[:4]))
        table.append((t[0], t[1], t[2], t[3], t[4], t[5], c1, c2, c3, c4, c5, c6))
        quiet.append((0.0, 0.0, 0.0, 0.0, 0.0, 0.0, c1, c2, c3, c4, c5, c6))
    return tuple(table), tuple(quiet)


_TORQUE_LIMIT = tuple(1.2 * rated for rated in RATED_NM)


class Robot(RegimeModel[Profile]):
    """The ``robot`` device model (see the module docstring)."""

    __slots__ = ("_motions", "_quiet_rows", "_scaled_rows")

    name = "robot"
    id_prefix = "rb"
    signals = state_signals(
        CHAIN,
        {
            "fault_code": Signal("", 0.0, 9999.0),
            "cycle_count": Signal("cycles", 0.0, math.inf, monotonic=True),
            "cycle_time_s": Signal("s", 8.0, 40.0),
            **{
                f"joint_torque_{j + 1}_nm": Signal("Nm", -_TORQUE_LIMIT[j], _TORQUE_LIMIT[j])
                for j in range(6)
            },
            **{f"joint_temp_{j + 1}_c": Signal("°C", 16.0, 72.0) for j in range(6)},
        },
    )
    chain = CHAIN
    shifts = TWO_SHIFTS
    model_tag = _MODEL_TAG
    make_profile = staticmethod(_make_profile)

    def __init__(self) -> None:
        super().__init__()
        self._motions = tuple(_motion(p) for p in range(_PROGRAMS))
        self._scaled_rows, self._quiet_rows = _noise_rows(self._rows)

    def new_state(self, index: int, seed: int) -> RobotState:
        """Return robot ``index``'s state at t = 0, at ambient temperature."""
        key, calendar, regime, until, h = self.first_regime(index, seed)
        state = RobotState(key, calendar, key % _START_CYCLES)
        state.mode = ((h >> 56) % _PROGRAMS) << 4
        self._enter(state, regime, until, 0.0, 0.0)
        return state

    def sample(self, state: RobotState, seq: int, t_s: float) -> dict[str, SampleValue]:
        """Advance the robot to ``t_s`` and return its readings."""
        if t_s >= state.until:
            self._advance(state, t_s)
        key = state.key
        mode = state.mode
        regime = mode & 7
        ambient, payload, rises = self._profiles[(key >> 20) & PROFILE_MASK]
        row = (key + seq * NOISE_STEP) & ROW_MASK
        gap = math.exp((state.t0 - t_s) / _TAU_S)
        heat = _HEAT[regime] + gap if mode & ABOVE else _HEAT[regime] - gap
        r1, r2, r3, r4, r5, r6 = rises
        cycles = state.cycles
        fault_code = 0
        cycle, profile, hold = self._motions[mode >> 4]
        if regime == RUNNING:
            to_go = (state.until - t_s) / cycle
            whole = math.ceil(to_go)
            cycles -= whole
            t1, t2, t3, t4, t5, t6 = profile[int((whole - to_go) * _PHASES) & (_PHASES - 1)]
            e1, e2, e3, e4, e5, e6, c1, c2, c3, c4, c5, c6 = self._scaled_rows[row]
        elif _SERVO_ON[regime]:
            t1, t2, t3, t4, t5, t6 = hold
            e1, e2, e3, e4, e5, e6, c1, c2, c3, c4, c5, c6 = self._scaled_rows[row]
        else:
            t1 = t2 = t3 = t4 = t5 = t6 = 0.0
            e1, e2, e3, e4, e5, e6, c1, c2, c3, c4, c5, c6 = self._quiet_rows[row]
            if regime == FAULT:
                fault_code = FAULT_CODES[int(state.until) & 7]
        return {
            "state": _NAME[regime],
            "fault_code": fault_code,
            "cycle_count": cycles,
            "cycle_time_s": cycle,
            "joint_torque_1_nm": t1 * payload + e1,
            "joint_torque_2_nm": t2 * payload + e2,
            "joint_torque_3_nm": t3 * payload + e3,
            "joint_torque_4_nm": t4 * payload + e4,
            "joint_torque_5_nm": t5 * payload + e5,
            "joint_torque_6_nm": t6 * payload + e6,
            "joint_temp_1_c": ambient + heat * r1 + c1,
            "joint_temp_2_c": ambient + heat * r2 + c2,
            "joint_temp_3_c": ambient + heat * r3 + c3,
            "joint_temp_4_c": ambient + heat * r4 + c4,
            "joint_temp_5_c": ambient + heat * r5 + c5,
            "joint_temp_6_c": ambient + heat * r6 + c6,
        }

    def _advance(self, state: RobotState, t_s: float) -> None:
        """Step the regimes from their end at ``state.until`` until one lasts past ``t_s``."""
        while state.until <= t_s:
            at = state.until
            mode = state.mode
            regime = mode & 7
            heat = level_at(_HEAT[regime], mode & ABOVE, state.t0, _TAU_S, at)
            nxt, until, h = CHAIN.step(state.key, regime, at, state.calendar)
            if nxt == TEACH:
                state.mode = ((h >> 56) % _PROGRAMS) << 4
            self._enter(state, nxt, until, at, heat)

    def _enter(self, state: RobotState, regime: int, until: float, at: float, heat: float) -> None:
        """Enter ``regime`` at ``at`` with the joints at thermal level ``heat``, until ``until``."""
        program = state.mode >> 4
        if regime == RUNNING:
            cycles, until = whole_cycles(at, until, self._motions[program][0])
            state.cycles += cycles
        target = _HEAT[regime]
        enter(state, regime, until, at, level=heat, target=target, tau_s=_TAU_S, bits=program << 4)
