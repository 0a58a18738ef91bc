"""The ``vibration-sensor`` model: a wireless vibration and temperature sensor on a bearing.

Regimes of the machine it sits on (see :mod:`simulator.fleet.regime`; minimum dwell, mean in
brackets), on a two-shift week:

===========  ===============  =============================================================
state        dwell            then
===========  ===============  =============================================================
``idle``     2 min (10 min)   running; the machine is stopped, only background vibration;
                              off shift: idle until the next shift
``running``  5 min (40 min)   idle 90 %, burst 10 %: a burst every six running hours or so
``burst``    5 s (30 s)       running; impacts (a loose part, a chipped bearing race): RMS
                              three to five times the running level, crest factor 5-8
===========  ===============  =============================================================

Running, the RMS velocity sits at the machine's level (0.8-2.5 mm/s, ISO 10816 zones A-B) with
a few percent of noise, and a slow wear trend adds up to half again over weeks. The crest
factor (peak over RMS) is about 3 for healthy running and much higher in bursts, so ``peak`` is
``rms * crest``. ``iso_zone`` grades the RMS by ISO 10816-3 (group 2 machines, rigid mounting):
A below 1.4 mm/s, B below 2.8, C below 4.5, D above. The bearing temperature follows the
machine's running with a 30 minute time constant.
"""

from __future__ import annotations

import math

from simulator.fleet.model import SampleValue, Signal
from simulator.fleet.noise import NOISE_STEP, ROW_MASK, uniform_draws
from simulator.fleet.regime import ABOVE, Chain, Regime, RegimeState, advance, enter
from simulator.fleet.regime_model import PROFILE_MASK, RegimeModel, state_signals
from simulator.fleet.shift import TWO_SHIFTS

IDLE, RUNNING, BURST, OFF = range(4)
_MIN = 60.0
CHAIN = Chain(
    (
        Regime("idle", 10 * _MIN, 2 * _MIN, ((RUNNING, 1.0),)),
        Regime("running", 40 * _MIN, 5 * _MIN, ((IDLE, 0.9), (BURST, 0.1))),
        Regime("burst", 30.0, 5.0, ((RUNNING, 1.0),)),
        Regime("idle", 1.0, 1.0),  # off shift: ends when the next shift starts
    ),
    rest=OFF,
    start=IDLE,
    initial=(0.2, 0.8, 0.0),
)
"""The regimes, numbered as the constants above."""
_NAME = CHAIN.names  # one lookup in the hot path

STATE_NAMES = CHAIN.state_names
"""Every state a sample reports."""
ISO_ZONES = ("A", "B", "C", "D")
"""ISO 10816 evaluation zones, from new machine (A) to damage likely (D)."""
_ZONE_B_MM_S, _ZONE_C_MM_S, _ZONE_D_MM_S = 1.4, 2.8, 4.5

_HEAT = (0.0, 1.0, 1.0, 0.0)  # thermal level each regime approaches
_TAU_S = 1800.0
_TREND_S = 30 * 86_400.0  # the wear trend is halfway to its maximum after 30 days
_MODEL_TAG = 8
_PROFILE_SEED = 0x766962

Profile = tuple[float, float, float, float, float]


class VibrationState(RegimeState):
    """One sensor: key, mode, regime end, thermal anchor, calendar (152 bytes).

    ``mode`` packs the regime (bits 0-1) and the thermal curve's direction (bit 3).
    """

    __slots__ = ()


def _make_profile(number: int) -> Profile:
    draw = uniform_draws(_PROFILE_SEED, number)
    return (
        draw(0, 0.8, 2.5),  # running RMS velocity, mm/s
        draw(1, 0.0, 0.5),  # wear trend: RMS grows by up to this share
        draw(2, 3.0, 5.0),  # burst RMS, multiple of running
        draw(3, 18.0, 26.0),  # ambient, °C
        draw(4, 15.0, 35.0),  # bearing temperature rise running, °C
    )


class VibrationSensor(RegimeModel[Profile]):
    """The ``vibration-sensor`` device model (see the module docstring)."""

    __slots__ = ()

    name = "vibration-sensor"
    id_prefix = "vib"
    signals = state_signals(
        CHAIN,
        {
            "rms_velocity_mm_s": Signal("mm/s", 0.0, 25.0),
            "peak_velocity_mm_s": Signal("mm/s", 0.0, 210.0),
            "crest_factor": Signal("", 2.0, 9.0),
            "iso_zone": Signal("", choices=ISO_ZONES),
            "temperature_c": Signal("°C", 17.0, 62.0),
        },
    )
    chain = CHAIN
    shifts = TWO_SHIFTS
    model_tag = _MODEL_TAG
    make_profile = staticmethod(_make_profile)

    def new_state(self, index: int, seed: int) -> VibrationState:
        """Return sensor ``index``'s state at t = 0, its machine at ambient temperature."""
        key, calendar, regime, until, _ = self.first_regime(index, seed)
        state = VibrationState(key, calendar)
        enter(state, regime, until, 0.0, level=0.0, target=_HEAT[regime], tau_s=_TAU_S)
        return state

    def sample(self, state: VibrationState, seq: int, t_s: float) -> dict[str, SampleValue]:
        """Advance the sensor to ``t_s`` and return its readings."""
        if t_s >= state.until:
            advance(state, t_s, CHAIN, _HEAT, _TAU_S)
        key = state.key
        mode = state.mode
        regime = mode & 3
        level, trend, burst, ambient, rise = self._profiles[(key >> 20) & PROFILE_MASK]
        n0, n1, n2, _, _, _, _, _ = self._rows[(key + seq * NOISE_STEP) & ROW_MASK]
        gap = math.exp((state.t0 - t_s) / _TAU_S)
        heat = _HEAT[regime] + gap if mode & ABOVE else _HEAT[regime] - gap
        if regime == RUNNING:
            rms = level * (1.0 + trend * t_s / (t_s + _TREND_S)) * (1.0 + 0.04 * n0)
            crest = 3.0 + 0.15 * n1
        elif regime == BURST:
            rms = burst * level * (1.0 + trend * t_s / (t_s + _TREND_S)) * (1.0 + 0.1 * n0)
            crest = 6.5 + 0.5 * n1
        else:
            rms = 0.1 * (1.0 + 0.2 * n0)
            crest = 3.5 + 0.15 * n1
        zone = (
            "A"
            if rms < _ZONE_B_MM_S
            else "B"
            if rms < _ZONE_C_MM_S
            else "C"
            if rms < _ZONE_D_MM_S
            else "D"
        )
        return {
            "state": _NAME[regime],
            "rms_velocity_mm_s": rms,
            "peak_velocity_mm_s": rms * crest,
            "crest_factor": crest,
            "iso_zone": zone,
            "temperature_c": ambient + heat * rise + 0.1 * n2,
        }
