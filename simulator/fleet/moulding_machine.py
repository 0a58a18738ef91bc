"""The ``moulding-machine`` model: an injection moulding machine and its heated barrel.

Regimes (see :mod:`simulator.fleet.regime`; minimum dwell, mean in brackets), on a round-the-clock
Monday-to-Friday calendar, because a barrel takes most of an hour to heat:

===============  ===============  =========================================================
state            dwell            then
===============  ===============  =========================================================
``idle``         5 min (20 min)   running 60 %, setup 40 %; heaters hold the setpoints
``heating``      until 97 % hot   running 70 %, setup 30 %; after the weekend or maintenance
``setup``        20 min (45 min)  running; a mould change: the next of the device's moulds
``running``      10 min (2 h)     idle 30 %, setup 30 %, alarm 30 %, maintenance 10 %;
                                  whole shots only
``alarm``        1 min (6 min)    running 60 %, idle 40 %; heaters stay on
``maintenance``  30 min (2 h)     heating; heaters off
===============  ===============  =========================================================

Off shift (weekends) the heaters are off and the machine reports ``idle`` while it cools.

The four barrel zones, feed to nozzle, follow one thermal level between ambient and the
material's setpoint profile (PP, ABS, PA6 or PC by machine), heating with a 10 minute time
constant and cooling with a 40 minute one. Injection pressure (peak of the last shot) and cycle
time come from the mould; pressure rises when the melt is colder. The shot counter goes up once
per cycle while running.
"""

from __future__ import annotations

import math

from simulator.fleet.model import SampleValue, Signal
from simulator.fleet.noise import NOISE_STEP, ROW_MASK, uniform_draws
from simulator.fleet.regime import ABOVE, Chain, Regime, RegimeState, enter, level_at
from simulator.fleet.regime_model import PROFILE_MASK, RegimeModel, state_signals, whole_cycles
from simulator.fleet.shift import THREE_SHIFTS, ShiftCalendar

IDLE, HEATING, SETUP, RUNNING, ALARM, MAINTENANCE, OFF = range(7)
_MIN = 60.0
CHAIN = Chain(
    (
        Regime("idle", 20 * _MIN, 5 * _MIN, ((RUNNING, 0.6), (SETUP, 0.4))),
        Regime("heating", 1.0, 1.0, ((RUNNING, 0.7), (SETUP, 0.3))),  # dwell set by the model
        Regime("setup", 45 * _MIN, 20 * _MIN, ((RUNNING, 1.0),)),
        Regime(
            "running",
            120 * _MIN,
            10 * _MIN,
            ((IDLE, 0.3), (SETUP, 0.3), (ALARM, 0.3), (MAINTENANCE, 0.1)),
        ),
        Regime("alarm", 6 * _MIN, 1 * _MIN, ((RUNNING, 0.6), (IDLE, 0.4))),
        Regime("maintenance", 120 * _MIN, 30 * _MIN, ((HEATING, 1.0),)),
        Regime("idle", 1.0, 1.0),  # off shift: ends when the next shift starts
    ),
    rest=OFF,
    start=HEATING,
    initial=(0.1, 0.0, 0.1, 0.74, 0.03, 0.03),
)
"""The regimes, numbered as the constants above."""
_NAME = CHAIN.names  # one lookup in the hot path

STATE_NAMES = CHAIN.state_names
"""Every state a sample reports."""

MATERIALS = (
    ("PP", (200.0, 215.0, 225.0, 230.0)),
    ("ABS", (210.0, 225.0, 235.0, 240.0)),
    ("PA6", (240.0, 255.0, 265.0, 270.0)),
    ("PC", (270.0, 285.0, 295.0, 300.0)),
)
"""Barrel setpoints feed zone to nozzle, °C, by material."""

_MOULDS = 8  # per machine; cycle time and pressure of each come from the profile
_HOT = (1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0)  # heaters on (1) or off (0) by regime
_TAU_S = (600.0, 600.0, 600.0, 600.0, 600.0, 2400.0, 2400.0)
_READY = 0.03  # heating ends when the barrel is within 3 % of its setpoints
_MODEL_TAG = 5
_PROFILE_SEED = 0x696D6D
_START_SHOTS = 2_000_000

Profile = tuple[float, float, float, float, float, tuple[tuple[float, float], ...]]


class MouldingState(RegimeState):
    """One machine: key, mode, regime end, barrel anchor, shots, calendar (188 bytes).

    ``mode`` packs the regime (bits 0-2), the barrel curve's direction (bit 3) and the mould
    (bits 4-6) into one cached small int; ``shots`` is the count at ``until``.
    """

    __slots__ = ("shots",)

    def __init__(self, key: int, calendar: ShiftCalendar, shots: int) -> None:
        super().__init__(key, calendar)
        self.shots = shots
        """Shot counter at ``until``."""


def _make_profile(number: int) -> Profile:
    draw = uniform_draws(_PROFILE_SEED, number)
    setpoints = MATERIALS[int(draw(0, 0.0, len(MATERIALS)))][1]
    moulds = tuple(
        (draw(10 + m, 15.0, 60.0), draw(20 + m, 600.0, 1400.0))  # cycle s, peak pressure bar
        for m in range(_MOULDS)
    )
    return (draw(1, 18.0, 26.0), *setpoints, moulds)


class MouldingMachine(RegimeModel[Profile]):
    """The ``moulding-machine`` device model (see the module docstring)."""

    __slots__ = ()

    name = "moulding-machine"
    id_prefix = "imm"
    signals = state_signals(
        CHAIN,
        {
            "barrel_temp_1_c": Signal("°C", 15.0, 305.0),
            "barrel_temp_2_c": Signal("°C", 15.0, 305.0),
            "barrel_temp_3_c": Signal("°C", 15.0, 305.0),
            "barrel_temp_4_c": Signal("°C", 15.0, 305.0),
            "injection_pressure_bar": Signal("bar", 0.0, 2_200.0),
            "cycle_time_s": Signal("s", 14.0, 62.0),
            "shot_count": Signal("shots", 0.0, math.inf, monotonic=True),
        },
    )
    chain = CHAIN
    shifts = THREE_SHIFTS
    model_tag = _MODEL_TAG
    make_profile = staticmethod(_make_profile)

    def new_state(self, index: int, seed: int) -> MouldingState:
        """Return machine ``index``'s state at t = 0: hot if on shift, else cold and off."""
        key, calendar, regime, until, h = self.first_regime(index, seed)
        state = MouldingState(key, calendar, key % _START_SHOTS)
        state.mode = ((h >> 56) % _MOULDS) << 4
        self._enter(state, regime, until, 0.0, _HOT[regime])
        return state

    def sample(self, state: MouldingState, seq: int, t_s: float) -> dict[str, SampleValue]:
        """Advance the machine to ``t_s`` and return its readings."""
        if t_s >= state.until:
            self._advance(state, t_s)
        key = state.key
        mode = state.mode
        regime = mode & 7
        ambient, set1, set2, set3, set4, moulds = self._profiles[(key >> 20) & PROFILE_MASK]
        n0, n1, n2, n3, n4, n5, _, _ = self._rows[(key + seq * NOISE_STEP) & ROW_MASK]
        gap = math.exp((state.t0 - t_s) / _TAU_S[regime])
        heat = _HOT[regime] + gap if mode & ABOVE else _HOT[regime] - gap
        cycle, pressure = moulds[mode >> 4]
        shots = state.shots
        if regime == RUNNING:
            shots -= math.ceil((state.until - t_s) / cycle)
            pressure *= (1.0 + 0.5 * (1.0 - heat)) * (1.0 + 0.015 * n4)
            cycle *= 1.0 + 0.005 * n5
        else:
            pressure = 0.0
        return {
            "state": _NAME[regime],
            "barrel_temp_1_c": ambient + heat * (set1 - ambient) + 0.5 * n0,
            "barrel_temp_2_c": ambient + heat * (set2 - ambient) + 0.5 * n1,
            "barrel_temp_3_c": ambient + heat * (set3 - ambient) + 0.5 * n2,
            "barrel_temp_4_c": ambient + heat * (set4 - ambient) + 0.5 * n3,
            "injection_pressure_bar": pressure,
            "cycle_time_s": cycle,
            "shot_count": shots,
        }

    def _advance(self, state: MouldingState, t_s: float) -> None:
        """Step the regimes from their end at ``state.until`` until one lasts past ``t_s``."""
        while state.until <= t_s:
            at = state.until
            mode = state.mode
            regime = mode & 7
            heat = level_at(_HOT[regime], mode & ABOVE, state.t0, _TAU_S[regime], at)
            nxt, until, h = CHAIN.step(state.key, regime, at, state.calendar)
            if nxt == SETUP:
                state.mode = ((mode >> 4) + 1 + (h >> 56) % (_MOULDS - 1)) % _MOULDS << 4
            self._enter(state, nxt, until, at, heat)

    def _enter(
        self, state: MouldingState, regime: int, until: float, at: float, heat: float
    ) -> None:
        """Enter ``regime`` at ``at`` with the barrel at level ``heat``, until ``until``."""
        mould = state.mode >> 4
        tau = _TAU_S[regime]
        if regime == HEATING:
            # Heats until within _READY of the setpoints: a time the curve fixes, not a draw.
            until = at + tau * math.log(max(1.0 - heat, _READY) / _READY)
            until = min(until, state.calendar.at(at)[1]) if until > at else at + 1.0
        elif regime == RUNNING:
            cycle = self.profile(state.key)[5][mould][0]
            shots, until = whole_cycles(at, until, cycle)
            state.shots += shots
        enter(state, regime, until, at, level=heat, target=_HOT[regime], tau_s=tau, bits=mould << 4)
