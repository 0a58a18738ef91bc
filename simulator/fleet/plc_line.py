"""The ``plc-line`` model: the PLC of an assembly line, reporting cycles and OEE.

Regimes (see :mod:`simulator.fleet.regime`; minimum dwell, mean in brackets), on a round-the-clock
Monday-to-Friday calendar:

===============  ===============  =========================================================
state            dwell            then
===============  ===============  =========================================================
``idle``         5 min (20 min)   changeover 50 %, running 50 %; off shift: idle all weekend
``changeover``   15 min (40 min)  running; the line's speed for the run is drawn here
``running``      5 min (45 min)   idle 5 %, changeover 15 %, starved 30 %, blocked 25 %,
                                  fault 20 %, maintenance 5 %; whole cycles only
``starved``      30 s (4 min)     running (no parts from upstream)
``blocked``      30 s (3 min)     running (downstream full)
``fault``        2 min (12 min)   running 80 %, maintenance 20 %
``maintenance``  30 min (2 h)     changeover
===============  ===============  =========================================================

OEE figures, each in 0..1:

- ``availability``: the share of the last hours the line was running, an exponentially
  weighted average with an 8 hour time constant (a shift). Off shift is not planned time, so
  the figure holds its value over the weekend.
- ``performance``: ideal over actual cycle time. Each run goes at one speed (80-96.5 % of the
  ideal, drawn at the change that starts it); the line reports its last run's figure when
  stopped.
- ``quality``: good parts over all parts, 97-99.5 % by line, drifting by up to a point over a
  few hours.
- ``oee``: their product.

The cycle counter goes up once per actual cycle while running and never goes down.
"""

from __future__ import annotations

import math

from simulator.fleet.model import SampleValue, Signal
from simulator.fleet.noise import NOISE_STEP, ROW_MASK, uniform_draws, unit
from simulator.fleet.regime import ABOVE, Chain, Regime, RegimeState, anchor, level_at
from simulator.fleet.regime_model import PROFILE_MASK, RegimeModel, state_signals, whole_cycles
from simulator.fleet.shift import THREE_SHIFTS, ShiftCalendar

IDLE, CHANGEOVER, RUNNING, STARVED, BLOCKED, FAULT, MAINTENANCE, OFF = range(8)
_MIN = 60.0
CHAIN = Chain(
    (
        Regime("idle", 20 * _MIN, 5 * _MIN, ((CHANGEOVER, 0.5), (RUNNING, 0.5))),
        Regime("changeover", 40 * _MIN, 15 * _MIN, ((RUNNING, 1.0),)),
        Regime(
            "running",
            45 * _MIN,
            5 * _MIN,
            (
                (IDLE, 0.05),
                (CHANGEOVER, 0.15),
                (STARVED, 0.3),
                (BLOCKED, 0.25),
                (FAULT, 0.2),
                (MAINTENANCE, 0.05),
            ),
        ),
        Regime("starved", 4 * _MIN, 0.5 * _MIN, ((RUNNING, 1.0),)),
        Regime("blocked", 3 * _MIN, 0.5 * _MIN, ((RUNNING, 1.0),)),
        Regime("fault", 12 * _MIN, 2 * _MIN, ((RUNNING, 0.8), (MAINTENANCE, 0.2))),
        Regime("maintenance", 120 * _MIN, 30 * _MIN, ((CHANGEOVER, 1.0),)),
        Regime("idle", 1.0, 1.0),  # off shift: ends when the next shift starts
    ),
    rest=OFF,
    start=CHANGEOVER,
    initial=(0.05, 0.08, 0.7, 0.06, 0.05, 0.04, 0.02),
)
"""The regimes, numbered as the constants above."""
_NAME = CHAIN.names  # one lookup in the hot path

STATE_NAMES = CHAIN.state_names
"""Every state a sample reports."""

_AVAILABILITY_TAU_S = 8 * 3600.0
_SPEED_LEVELS = 16
_SPEED_BASE = 0.8
_SPEED_STEP = 0.011  # 16 levels: 0.800 .. 0.965 of the ideal rate
_MODEL_TAG = 4
_PROFILE_SEED = 0x706C63
_START_CYCLES = 5_000_000

Profile = tuple[float, float, float, float]


class PlcState(RegimeState):
    """One line: key, mode, regime end, availability anchor, cycles, calendar (188 bytes).

    ``mode`` packs the regime (bits 0-2), the availability curve's direction (bit 3) and the
    speed level of the current or last run (bits 4-7) into one cached small int. Off shift
    ``t0`` holds the frozen availability itself instead of a curve anchor.
    """

    __slots__ = ("cycles",)

    def __init__(self, key: int, calendar: ShiftCalendar, cycles: int) -> None:
        super().__init__(key, calendar)
        self.cycles = cycles
        """Cycle counter at ``until``."""


def _make_profile(number: int) -> Profile:
    draw = uniform_draws(_PROFILE_SEED, number)
    return (
        draw(0, 12.0, 60.0),  # ideal cycle time, s
        draw(1, 0.97, 0.995),  # mean quality
        2.0 * math.pi / draw(2, 7_200.0, 21_600.0),  # quality drift, rad/s
        draw(3, 0.0, 2.0 * math.pi),  # quality drift phase
    )


class PlcLine(RegimeModel[Profile]):
    """The ``plc-line`` device model (see the module docstring)."""

    __slots__ = ()

    name = "plc-line"
    id_prefix = "plc"
    signals = state_signals(
        CHAIN,
        {
            "cycle_count": Signal("cycles", 0.0, math.inf, monotonic=True),
            "cycle_time_s": Signal("s", 11.0, 80.0),
            "availability": Signal("", 0.0, 1.0),
            "performance": Signal("", 0.75, 1.0),
            "quality": Signal("", 0.95, 1.0),
            "oee": Signal("", 0.0, 1.0),
        },
    )
    chain = CHAIN
    shifts = THREE_SHIFTS
    model_tag = _MODEL_TAG
    make_profile = staticmethod(_make_profile)

    def new_state(self, index: int, seed: int) -> PlcState:
        """Return line ``index``'s state at t = 0, with 60-90 % availability behind it."""
        key, calendar, regime, until, h = self.first_regime(index, seed)
        state = PlcState(key, calendar, key % _START_CYCLES)
        state.mode = ((h >> 56) % _SPEED_LEVELS) << 4
        self._enter(state, regime, until, 0.0, 0.6 + 0.3 * unit(seed, index, _MODEL_TAG))
        return state

    def sample(self, state: PlcState, seq: int, t_s: float) -> dict[str, SampleValue]:
        """Advance the line to ``t_s`` and return its readings."""
        if t_s >= state.until:
            self._advance(state, t_s)
        key = state.key
        mode = state.mode
        regime = mode & 7
        ideal, quality, drift, drift_phase = self._profiles[(key >> 20) & PROFILE_MASK]
        n0, n1, n2, _, _, _, _, _ = self._rows[(key + seq * NOISE_STEP) & ROW_MASK]
        performance = _SPEED_BASE + _SPEED_STEP * (mode >> 4)
        cycle = ideal / performance
        cycles = state.cycles
        if regime == OFF:
            availability = state.t0
        else:
            gap = math.exp((state.t0 - t_s) / _AVAILABILITY_TAU_S)
            target = 1.0 if regime == RUNNING else 0.0
            availability = target + gap if mode & ABOVE else target - gap
        if regime == RUNNING:
            cycles -= math.ceil((state.until - t_s) / cycle)
            cycle *= 1.0 + 0.01 * n0
            performance *= 1.0 - 0.005 * abs(n1)
        quality -= 0.005 * (1.0 + math.sin(drift * t_s + drift_phase)) + 0.0005 * abs(n2)
        return {
            "state": _NAME[regime],
            "cycle_count": cycles,
            "cycle_time_s": cycle,
            "availability": availability,
            "performance": performance,
            "quality": quality,
            "oee": availability * performance * quality,
        }

    def _advance(self, state: PlcState, t_s: float) -> None:
        """Step the regimes from their end at ``state.until`` until one lasts past ``t_s``."""
        while state.until <= t_s:
            at = state.until
            mode = state.mode
            regime = mode & 7
            if regime == OFF:
                availability = state.t0
            else:
                target = 1.0 if regime == RUNNING else 0.0
                availability = level_at(target, mode & ABOVE, state.t0, _AVAILABILITY_TAU_S, at)
            nxt, until, h = CHAIN.step(state.key, regime, at, state.calendar)
            if nxt == RUNNING and regime != RUNNING:
                state.mode = ((h >> 56) % _SPEED_LEVELS) << 4
            self._enter(state, nxt, until, at, availability)

    def _enter(
        self, state: PlcState, regime: int, until: float, at: float, availability: float
    ) -> None:
        """Enter ``regime`` at ``at`` with ``availability`` so far, until ``until``."""
        speed = state.mode >> 4
        if regime == OFF:
            state.mode = regime | speed << 4
            state.until = until
            state.t0 = availability
            return
        if regime == RUNNING:
            ideal = self.profile(state.key)[0]
            cycles, until = whole_cycles(at, until, ideal / (_SPEED_BASE + _SPEED_STEP * speed))
            state.cycles += cycles
        above, t0 = anchor(availability, 1.0 if regime == RUNNING else 0.0, _AVAILABILITY_TAU_S, at)
        state.mode = regime | above | speed << 4
        state.until = until
        state.t0 = t0
