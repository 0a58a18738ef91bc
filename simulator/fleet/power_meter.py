"""The ``power-meter`` model: a three-phase energy meter on a machine group's feeder.

Regimes (see :mod:`simulator.fleet.regime`; minimum dwell, mean in brackets), following the
two-shift week of the machines it feeds:

===========  ===============  =============================================================
state        dwell            then
===========  ===============  =============================================================
``idle``     2 min (10 min)   running 90 %, peak 10 %; base load only (lighting, controls,
                              compressors); off shift: idle until the next shift
``running``  10 min (1 h)     idle 60 %, peak 35 %, sag 5 %; production load, swinging
                              slowly with the work
``peak``     30 s (3 min)     running; start-ups and heavy cuts: up to 110 % of rating
``sag``      5 s (20 s)       running; a voltage dip of 10-20 % from the grid, about one
                              per two production days
===========  ===============  =============================================================

Voltages are line to neutral around 230 V (about 400 V line to line, also reported) with small
per-phase offsets and noise. ``power_kw`` is the average active power since the previous
reading, as a meter's demand register reports it, and ``energy_kwh`` is the running total:
every reading adds exactly ``power_kw`` times the hours since the last one, so energy never
decreases and always agrees with power. Currents follow power, voltage and power factor, with
a few percent of imbalance between phases; the power factor is lower at light load.
"""

from __future__ import annotations

import math

from simulator.fleet.model import SampleValue, Signal
from simulator.fleet.noise import NOISE_STEP, ROW_MASK, uniform_draws, unit
from simulator.fleet.regime import Chain, Regime
from simulator.fleet.regime_model import PROFILE_MASK, RegimeModel, state_signals
from simulator.fleet.shift import TWO_SHIFTS, ShiftCalendar

IDLE, RUNNING, PEAK, SAG, OFF = range(5)
_MIN = 60.0
CHAIN = Chain(
    (
        Regime("idle", 10 * _MIN, 2 * _MIN, ((RUNNING, 0.9), (PEAK, 0.1))),
        Regime("running", 60 * _MIN, 10 * _MIN, ((IDLE, 0.6), (PEAK, 0.35), (SAG, 0.05))),
        Regime("peak", 3 * _MIN, 0.5 * _MIN, ((RUNNING, 1.0),)),
        Regime("sag", 20.0, 5.0, ((RUNNING, 1.0),)),
        Regime("idle", 1.0, 1.0),  # off shift: ends when the next shift starts
    ),
    rest=OFF,
    start=IDLE,
    initial=(0.15, 0.75, 0.1, 0.0),
)
"""The regimes, numbered as the constants above."""
_NAME = CHAIN.names  # one lookup in the hot path

STATE_NAMES = CHAIN.state_names
"""Every state a sample reports."""

NOMINAL_V = 230.0
"""Line-to-neutral nominal voltage; line to line is sqrt(3) times that, about 400 V."""
_LL_PER_SUM = math.sqrt(3.0) / 3.0  # mean line-to-line voltage per sum of the three phases
_HOUR_S = 3600.0
_MODEL_TAG = 7
_PROFILE_SEED = 0x706D
_START_KWH = 900_000.0

Profile = tuple[float, float, float, float, float, float, float, float, float, float]


class MeterState:
    """One meter: key, regime, regime end, energy register, last reading, calendar (184 B)."""

    __slots__ = ("calendar", "energy", "key", "last_t", "regime", "until")

    def __init__(self, key: int, calendar: ShiftCalendar, energy: float) -> None:
        self.key = key
        """60-bit stream key from (seed, index); bits 20-29 pick the feeder profile."""
        self.calendar = calendar
        """The run's shared shift calendar."""
        self.regime = 0
        """The current regime's number."""
        self.until = 0.0
        """Run time at which the current regime ends."""
        self.energy = energy
        """Energy register at ``last_t``, kWh."""
        self.last_t = 0.0
        """Run time of the last reading (0 before the first)."""


def _make_profile(number: int) -> Profile:
    draw = uniform_draws(_PROFILE_SEED, number)
    return (
        draw(0, 20.0, 250.0),  # rated power, kW
        draw(1, 0.06, 0.16),  # base load, share of rated
        draw(2, 0.5, 0.75),  # mean production load, share of rated
        2.0 * math.pi / draw(3, 600.0, 3600.0),  # production load swing, rad/s
        draw(4, 0.0, 2.0 * math.pi),  # swing phase
        draw(5, 0.8, 0.9),  # sag depth: remaining share of the voltage
        draw(6, 0.99, 1.01),  # L1 voltage, share of the mean of the phases
        draw(7, 0.99, 1.01),  # L2
        draw(8, 0.99, 1.01),  # L3
        draw(9, 0.9, 0.97),  # power factor at full load
    )


class PowerMeter(RegimeModel[Profile]):
    """The ``power-meter`` device model (see the module docstring)."""

    __slots__ = ()

    name = "power-meter"
    id_prefix = "pm"
    signals = state_signals(
        CHAIN,
        {
            "voltage_l1_v": Signal("V", 170.0, 245.0),
            "voltage_l2_v": Signal("V", 170.0, 245.0),
            "voltage_l3_v": Signal("V", 170.0, 245.0),
            "voltage_ll_v": Signal("V", 295.0, 425.0),
            "current_l1_a": Signal("A", 0.0, 600.0),
            "current_l2_a": Signal("A", 0.0, 600.0),
            "current_l3_a": Signal("A", 0.0, 600.0),
            "power_kw": Signal("kW", 0.0, 285.0),
            "power_factor": Signal("", 0.55, 1.0),
            "frequency_hz": Signal("Hz", 49.8, 50.2),
            "energy_kwh": Signal("kWh", 0.0, math.inf, monotonic=True),
        },
    )
    chain = CHAIN
    shifts = TWO_SHIFTS
    model_tag = _MODEL_TAG
    make_profile = staticmethod(_make_profile)

    def new_state(self, index: int, seed: int) -> MeterState:
        """Return meter ``index``'s state at t = 0, its register already counting."""
        key, calendar, regime, until, _ = self.first_regime(index, seed)
        state = MeterState(key, calendar, _START_KWH * unit(seed, index, 1))
        state.regime, state.until = regime, until
        return state

    def sample(self, state: MeterState, seq: int, t_s: float) -> dict[str, SampleValue]:
        """Advance the meter to ``t_s``, add the energy since the last reading, return it all."""
        if t_s >= state.until:
            key = state.key
            calendar = state.calendar
            while state.until <= t_s:
                state.regime, state.until, _ = CHAIN.step(key, state.regime, state.until, calendar)
        key = state.key
        regime = state.regime
        rated, base, mean, omega, phase, sag, o1, o2, o3, pf_full = self._profiles[
            (key >> 20) & PROFILE_MASK
        ]
        n0, n1, n2, n3, n4, n5, n6, n7 = self._rows[(key + seq * NOISE_STEP) & ROW_MASK]
        if regime == RUNNING:
            load = mean + 0.15 * math.sin(omega * t_s + phase) + 0.02 * n0
        elif regime == PEAK:
            load = 1.0 + 0.03 * n0
        elif regime == SAG:
            load = mean + 0.02 * n0
        else:
            load = base * (1.0 + 0.1 * n0)
        volts = NOMINAL_V * (sag if regime == SAG else 1.0) * (1.0 + 0.004 * n1)
        v1 = volts * (o1 + 0.001 * n2)
        v2 = volts * (o2 + 0.001 * n3)
        v3 = volts * (o3 + 0.001 * n4)
        phases = v1 + v2 + v3
        power = rated * load
        light = 1.0 - load
        power_factor = pf_full - 0.25 * light * light + 0.003 * n5
        amps = power * 1000.0 / phases / power_factor
        energy = state.energy + power * (t_s - state.last_t) / _HOUR_S
        state.energy = energy
        state.last_t = t_s
        return {
            "state": _NAME[regime],
            "voltage_l1_v": v1,
            "voltage_l2_v": v2,
            "voltage_l3_v": v3,
            "voltage_ll_v": phases * _LL_PER_SUM,
            "current_l1_a": amps * (1.0 + 0.02 * n6),
            "current_l2_a": amps * (1.0 + 0.02 * n7),
            "current_l3_a": amps * (1.0 - 0.02 * n6),
            "power_kw": power,
            "power_factor": power_factor,
            "frequency_hz": 50.0 + 0.02 * n1,
            "energy_kwh": energy,
        }
