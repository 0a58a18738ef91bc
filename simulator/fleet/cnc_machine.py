"""The ``cnc-machine`` model: a machining centre cutting parts on a two-shift week.

Regimes (see :mod:`simulator.fleet.regime`; dwell is minimum + exponential, mean in brackets):

===============  ===============  =========================================================
state            dwell            then
===============  ===============  =========================================================
``idle``         2 min (15 min)   running 70 %, setup 30 %; off shift: idle until the shift
``setup``        10 min (25 min)  running; a new program is loaded (one of 8)
``running``      5 min (75 min)   idle 45 %, setup 35 %, alarm 15 %, maintenance 5 %;
                                  whole cycles only: a started part is finished
``tool_change``  2 min (3 min)    running; forced when the tool reaches its life
``alarm``        1 min (8 min)    idle 50 %, running 50 %
``maintenance``  30 min (90 min)  setup
===============  ===============  =========================================================

Each shift starts with setup (the program is reloaded, the spindle warmed up) and ends with the
machine idle. While running the part counter goes up once per program cycle and tool wear grows
with every part cut, ``100 * parts_on_tool / tool_life``; the tool is changed (wear back to 0)
when it reaches its life, 60-240 parts depending on the machine. Spindle load rises with wear.

Axis temperatures follow one thermal level (0 cold, 1 at running equilibrium) with a 20 minute
time constant, each axis with its own rise (the Z axis carries the spindle and runs hottest);
spindle speed, feed and load come from the program, with noise.

Per-device constants (ambient, axis rises, tool life, speed scale) are in a shared table of 1024
machine profiles picked by the device key.
"""

from __future__ import annotations

import math

from simulator.fleet.model import SampleValue, Signal
from simulator.fleet.noise import NOISE_STEP, ROW_MASK, uniform_draws
from simulator.fleet.regime import ABOVE, Chain, Regime, RegimeState, enter, level_at
from simulator.fleet.regime_model import PROFILE_MASK, RegimeModel, state_signals, whole_cycles
from simulator.fleet.shift import TWO_SHIFTS, ShiftCalendar

IDLE, SETUP, RUNNING, TOOL_CHANGE, ALARM, MAINTENANCE, OFF = range(7)
_MIN = 60.0
CHAIN = Chain(
    (
        Regime("idle", 15 * _MIN, 2 * _MIN, ((RUNNING, 0.7), (SETUP, 0.3))),
        Regime("setup", 25 * _MIN, 10 * _MIN, ((RUNNING, 1.0),)),
        Regime(
            "running",
            75 * _MIN,
            5 * _MIN,
            ((IDLE, 0.45), (SETUP, 0.35), (ALARM, 0.15), (MAINTENANCE, 0.05)),
        ),
        Regime("tool_change", 3 * _MIN, 2 * _MIN, ((RUNNING, 1.0),)),
        Regime("alarm", 8 * _MIN, 1 * _MIN, ((IDLE, 0.5), (RUNNING, 0.5))),
        Regime("maintenance", 90 * _MIN, 30 * _MIN, ((SETUP, 1.0),)),
        Regime("idle", 1.0, 1.0),  # off shift: ends when the next shift starts
    ),
    rest=OFF,
    start=SETUP,
    initial=(0.15, 0.2, 0.6, 0.0, 0.02, 0.03),
)
"""The regimes, numbered as the constants above."""
_NAME = CHAIN.names  # one lookup in the hot path

STATE_NAMES = CHAIN.state_names
"""Every state a sample reports."""
PROGRAM_STATES = ("ready", "stopped", "active", "feed_hold", "interrupted")
"""Every program (execution) state a sample reports, after MTConnect's ``Execution``."""
_PROGRAM_STATE = ("ready", "stopped", "active", "feed_hold", "interrupted", "stopped", "ready")

# name, spindle rpm, feed mm/min, cycle s, spindle load at a fresh tool %
PROGRAMS = (
    ("O1001", 2400.0, 900.0, 240.0, 62.0),  # roughing steel
    ("O1002", 12000.0, 3000.0, 90.0, 30.0),  # finishing aluminium
    ("O1003", 3500.0, 400.0, 60.0, 45.0),  # drilling
    ("O2001", 1800.0, 600.0, 180.0, 66.0),  # facing
    ("O2002", 8000.0, 2200.0, 150.0, 48.0),  # pocket milling
    ("O3001", 1200.0, 300.0, 45.0, 40.0),  # threading
    ("O3002", 6000.0, 1800.0, 300.0, 52.0),  # contouring
    ("O4001", 15000.0, 1200.0, 120.0, 22.0),  # engraving
)
"""The part programs a machine runs: name, spindle rpm, feed mm/min, cycle s, base load %."""
PROGRAM_NAMES = tuple(p[0] for p in PROGRAMS)

_TAU_S = 1200.0
_HEAT = (0.05, 0.3, 1.0, 0.6, 0.1, 0.0, 0.0)  # thermal level each regime approaches
_MODEL_TAG = 3
_PROFILE_SEED = 0x636E63
_START_PARTS = 200_000
_WEAR_LOAD = 0.25  # spindle load grows by a quarter from a fresh to a worn-out tool

Profile = tuple[float, float, float, float, int, float, float]


class CncState(RegimeState):
    """One machine: key, mode, regime end, thermal anchor, parts, tool parts, calendar (196 B).

    ``mode`` packs the regime (bits 0-2), the thermal curve's direction (bit 3) and the program
    (bits 4-6) into one cached small int. ``parts`` and ``tool`` are the counts at ``until``:
    a running regime is a whole number of cycles, so the count now is ``parts`` minus the
    cycles still to go.
    """

    __slots__ = ("parts", "tool")

    def __init__(self, key: int, calendar: ShiftCalendar, parts: int) -> None:
        super().__init__(key, calendar)
        self.parts = parts
        """Part counter at ``until``."""
        self.tool = 0
        """Parts cut by the current tool at ``until``."""


def _make_profile(number: int) -> Profile:
    draw = uniform_draws(_PROFILE_SEED, number)
    return (
        draw(0, 19.0, 25.0),  # ambient, °C
        draw(1, 8.0, 12.0),  # X axis rise at running equilibrium, °C
        draw(2, 6.0, 10.0),  # Y
        draw(3, 12.0, 18.0),  # Z (spindle axis)
        int(draw(4, 60.0, 240.0)),  # tool life, parts
        draw(5, 0.9, 1.1),  # cycle time scale
        draw(6, 0.95, 1.05),  # spindle speed scale
    )


class CncMachine(RegimeModel[Profile]):
    """The ``cnc-machine`` device model (see the module docstring)."""

    __slots__ = ()

    name = "cnc-machine"
    id_prefix = "cnc"
    signals = state_signals(
        CHAIN,
        {
            "program": Signal("", choices=PROGRAM_NAMES),
            "program_state": Signal("", choices=PROGRAM_STATES),
            "spindle_speed_rpm": Signal("rpm", 0.0, 16_000.0),
            "spindle_load_pct": Signal("%", 0.0, 100.0),
            "feed_rate_mm_min": Signal("mm/min", 0.0, 3_200.0),
            "axis_temp_x_c": Signal("°C", 17.0, 38.0),
            "axis_temp_y_c": Signal("°C", 17.0, 36.0),
            "axis_temp_z_c": Signal("°C", 17.0, 44.0),
            "tool_wear_pct": Signal("%", 0.0, 100.0),
            "part_count": Signal("parts", 0.0, math.inf, monotonic=True),
        },
    )
    chain = CHAIN
    shifts = TWO_SHIFTS
    model_tag = _MODEL_TAG
    make_profile = staticmethod(_make_profile)

    def new_state(self, index: int, seed: int) -> CncState:
        """Return device ``index``'s state at t = 0: cold, in the regime drawn for the start."""
        key, calendar, regime, until, h = self.first_regime(index, seed)
        state = CncState(key, calendar, key % _START_PARTS)
        state.mode = (h >> 56) % len(PROGRAMS) << 4
        self._enter(state, regime, until, 0.0, 0.0)
        return state

    def sample(self, state: CncState, seq: int, t_s: float) -> dict[str, SampleValue]:
        """Advance the machine to ``t_s`` and return its readings."""
        if t_s >= state.until:
            self._advance(state, t_s)
        key = state.key
        mode = state.mode
        regime = mode & 7
        ambient, rise_x, rise_y, rise_z, life, cycle_scale, speed_scale = self._profiles[
            (key >> 20) & PROFILE_MASK
        ]
        n0, n1, n2, n3, n4, n5, _, _ = self._rows[(key + seq * NOISE_STEP) & ROW_MASK]
        gap = math.exp((state.t0 - t_s) / _TAU_S)
        heat = _HEAT[regime] + gap if mode & ABOVE else _HEAT[regime] - gap
        program, rpm, feed, cycle, load = PROGRAMS[mode >> 4]
        parts = state.parts
        tool = float(state.tool)
        if regime == RUNNING:
            to_go = (state.until - t_s) / (cycle * cycle_scale)
            parts -= math.ceil(to_go)
            tool -= to_go
            wear = tool / life
            speed = rpm * speed_scale * (1.0 + 0.005 * n0)
            feed_rate = feed * (1.0 + 0.01 * n1)
            spindle_load = load * (1.0 + _WEAR_LOAD * wear) * (1.0 + 0.03 * n2)
        elif regime == SETUP:
            wear = tool / life
            speed = 0.3 * rpm * speed_scale * (1.0 + 0.005 * n0)
            feed_rate = 0.1 * feed * (1.0 + 0.01 * n1)
            spindle_load = 0.2 * load * (1.0 + 0.03 * n2)
        else:
            wear = tool / life
            speed = feed_rate = spindle_load = 0.0
        return {
            "state": _NAME[regime],
            "program": program,
            "program_state": _PROGRAM_STATE[regime],
            "spindle_speed_rpm": speed,
            "spindle_load_pct": spindle_load,
            "feed_rate_mm_min": feed_rate,
            "axis_temp_x_c": ambient + heat * rise_x + 0.1 * n3,
            "axis_temp_y_c": ambient + heat * rise_y + 0.1 * n4,
            "axis_temp_z_c": ambient + heat * rise_z + 0.1 * n5,
            "tool_wear_pct": 100.0 * wear,
            "part_count": parts,
        }

    def _advance(self, state: CncState, t_s: float) -> None:
        """Step the regimes from their end at ``state.until`` until one lasts past ``t_s``."""
        life = self.profile(state.key)[4]
        while state.until <= t_s:
            at = state.until
            mode = state.mode
            regime = mode & 7
            heat = level_at(_HEAT[regime], mode & ABOVE, state.t0, _TAU_S, at)
            forced = TOOL_CHANGE if state.tool >= life else -1
            nxt, until, h = CHAIN.step(state.key, regime, at, state.calendar, forced)
            if nxt == SETUP:
                state.mode = (h >> 56) % len(PROGRAMS) << 4
            self._enter(state, nxt, until, at, heat)

    def _enter(self, state: CncState, regime: int, until: float, at: float, heat: float) -> None:
        """Enter ``regime`` at ``at``, with the thermal level at ``heat``, until ``until``."""
        program = state.mode >> 4
        profile = self.profile(state.key)
        if regime == TOOL_CHANGE:
            state.tool = 0
        elif regime == RUNNING:
            cycle = PROGRAMS[program][3] * profile[5]
            cycles, until = whole_cycles(at, until, cycle, profile[4] - state.tool)
            state.parts += cycles
            state.tool += cycles
        target = _HEAT[regime]
        enter(state, regime, until, at, level=heat, target=target, tau_s=_TAU_S, bits=program << 4)
