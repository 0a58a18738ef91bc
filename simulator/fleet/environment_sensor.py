"""The ``environment-sensor`` model: a room sensor in a production hall.

Regimes (see :mod:`simulator.fleet.regime`; minimum dwell, mean in brackets), following the
two-shift week of the people in the hall:

=====================  ===============  ===================================================
state                  dwell            then
=====================  ===============  ===================================================
``occupied``           1 h (4 h)        occupied 95 %, ventilation_fault 5 %: about one
                                        fault per 80 shift hours
``ventilation_fault``  20 min (2 h)     occupied; the air handling unit has stopped
``unoccupied``         off shift        occupied, when the next shift starts
=====================  ===============  ===================================================

One "air load" level drives the correlated signals: it moves toward 0 when the hall is empty,
1 when occupied and 2.5 when the ventilation has failed, with a 40 minute time constant. CO2
rises with it (420 ppm outdoor air, up to about 800 occupied and 1,350 in a fault), and so do
temperature (people, machines) and humidity (breath). The temperature also follows the day
(warmest at 15:00 plant time); relative humidity falls as the air warms, at a fixed moisture
content. Barometric pressure is weather: slow waves of 1.7 and 4.3 days, the same for every
sensor of a run and different from run to run, plus each sensor's calibration offset.
"""

from __future__ import annotations

import math

from simulator.fleet.model import SampleValue, Signal
from simulator.fleet.noise import NOISE_STEP, ROW_MASK, uniform_draws
from simulator.fleet.regime import ABOVE, Chain, Regime, RegimeState, advance, enter
from simulator.fleet.regime_model import PROFILE_MASK, RegimeModel, state_signals
from simulator.fleet.shift import DAY_S, TWO_SHIFTS

OCCUPIED, VENTILATION_FAULT, UNOCCUPIED = range(3)
_HOUR = 3600.0
CHAIN = Chain(
    (
        Regime("occupied", 4 * _HOUR, 1 * _HOUR, ((OCCUPIED, 0.95), (VENTILATION_FAULT, 0.05))),
        Regime("ventilation_fault", 2 * _HOUR, 20 * 60.0, ((OCCUPIED, 1.0),)),
        Regime("unoccupied", 1.0, 1.0),  # off shift: ends when the next shift starts
    ),
    rest=UNOCCUPIED,
    start=OCCUPIED,
    initial=(0.97, 0.03),
)
"""The regimes, numbered as the constants above."""
_NAME = CHAIN.names  # one lookup in the hot path

STATE_NAMES = CHAIN.state_names
"""Every state a sample reports."""

OUTDOOR_CO2_PPM = 420.0
"""CO2 of fresh air, which an empty, ventilated hall settles to."""
_LOAD = (1.0, 2.5, 0.0)  # air load each regime approaches
_TAU_S = 2400.0
_DAY_OMEGA = 2.0 * math.pi / DAY_S
_WARMEST_S = 15 * 3600.0
_WEATHER_SPREAD = 97.0  # weather time: as if each run started somewhere in two years of weather
_WEATHER = ((9.0, 2.0 * math.pi / (4.3 * DAY_S), 1.1), (5.0, 2.0 * math.pi / (1.7 * DAY_S), 4.0))
_MODEL_TAG = 9
_PROFILE_SEED = 0x656E76

Profile = tuple[float, float, float]


class EnvironmentState(RegimeState):
    """One sensor: key, mode, regime end, air load anchor, calendar (152 bytes).

    ``mode`` packs the regime (bits 0-1) and the air load curve's direction (bit 3).
    """

    __slots__ = ()


def _make_profile(number: int) -> Profile:
    draw = uniform_draws(_PROFILE_SEED, number)
    return (
        draw(0, 19.0, 22.0),  # base temperature, °C
        draw(1, 35.0, 55.0),  # relative humidity at base temperature, empty hall, %
        draw(2, -0.5, 0.5),  # barometer calibration offset, hPa
    )


class EnvironmentSensor(RegimeModel[Profile]):
    """The ``environment-sensor`` device model (see the module docstring)."""

    __slots__ = ()

    name = "environment-sensor"
    id_prefix = "env"
    signals = state_signals(
        CHAIN,
        {
            "temperature_c": Signal("°C", 16.0, 27.0),
            "humidity_pct": Signal("%", 15.0, 80.0),
            "pressure_hpa": Signal("hPa", 990.0, 1036.0),
            "co2_ppm": Signal("ppm", 380.0, 1450.0),
        },
    )
    chain = CHAIN
    shifts = TWO_SHIFTS
    model_tag = _MODEL_TAG
    make_profile = staticmethod(_make_profile)

    def new_state(self, index: int, seed: int) -> EnvironmentState:
        """Return sensor ``index``'s state at t = 0, the air at the load of its regime."""
        key, calendar, regime, until, _ = self.first_regime(index, seed)
        state = EnvironmentState(key, calendar)
        load = min(_LOAD[regime], 1.0)
        enter(state, regime, until, 0.0, level=load, target=_LOAD[regime], tau_s=_TAU_S)
        return state

    def sample(self, state: EnvironmentState, seq: int, t_s: float) -> dict[str, SampleValue]:
        """Advance the sensor to ``t_s`` and return its readings."""
        if t_s >= state.until:
            advance(state, t_s, CHAIN, _LOAD, _TAU_S)
        key = state.key
        mode = state.mode
        regime = mode & 3
        base, humidity, offset_hpa = self._profiles[(key >> 20) & PROFILE_MASK]
        n0, n1, n2, n3, _, _, _, _ = self._rows[(key + seq * NOISE_STEP) & ROW_MASK]
        gap = math.exp((state.t0 - t_s) / _TAU_S)
        load = _LOAD[regime] + gap if mode & ABOVE else _LOAD[regime] - gap
        offset = state.calendar.offset_s
        plant_t = t_s + offset
        weather_t = plant_t + _WEATHER_SPREAD * offset
        (a1, w1, p1), (a2, w2, p2) = _WEATHER
        warming = 1.5 * math.cos(_DAY_OMEGA * (plant_t - _WARMEST_S)) + load
        return {
            "state": _NAME[regime],
            "temperature_c": base + warming + 0.05 * n0,
            "humidity_pct": humidity - 2.5 * warming + 4.0 * load + 0.5 * n1,
            "pressure_hpa": 1013.0
            + a1 * math.sin(w1 * weather_t + p1)
            + a2 * math.sin(w2 * weather_t + p2)
            + offset_hpa
            + 0.05 * n2,
            "co2_ppm": OUTDOOR_CO2_PPM + 380.0 * load + 8.0 * n3,
        }
