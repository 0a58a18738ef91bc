"""The ``machine-sensor`` model: a sensor pack on a production machine.

Signals, and the ranges the contract tests hold them to:

==================  ==========  =========================================================
signal              range       behaviour
==================  ==========  =========================================================
``temperature_c``   18 .. 90    ambient (20-24, drifting ±1.5 over a day) when idle,
                                45-72 when running (±2 with load), 15 more in alarm
``vibration_mm_s``  0.2 .. 20   RMS; 0.2-0.5 idle, 2.4-6.3 running (with load), 11-19 alarm
``power_kw``        0.3 .. 21   0.3-1 idle, 7-19 running (with load), 10 % more in alarm
``state``                       ``running``, ``idle`` or ``alarm``
==================  ==========  =========================================================

The machine is a three-state Markov chain stepped once per sample: it is running about 87 % of
the time, idle for stretches of ~50 samples, and in rare alarms (~0.4 %) that clear after ~10.
Load swings slowly (a 10-60 minute cycle per device) with per-sample jitter; power, vibration
and the running temperature all follow the same load, so they are correlated.

Temperature relaxes toward its state's fixed target with a first-order lag,
``curve(t) = target + sign * exp((t0 - t) / tau)``, and the daily drift, the load swing and
sensor noise are added on top. Only ``t0`` is stored: on a regime change
it is re-anchored so the curve stays continuous. That is what keeps the state at three slots:
the sequence key, the regime and ``t0``.

Per-device constants (ambient, rated power, load cycle, vibration gain) come from a shared
table of 4096 machine profiles, picked by the device's key, instead of being stored per device.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType

from simulator.fleet.model import SampleValue, Signal
from simulator.fleet.noise import GOLDEN, MASK64, device_key, uniform_draws, unit

RUNNING, IDLE, ALARM = 0, 1, 2
STATE_NAMES = ("running", "idle", "alarm")
"""State names by state number."""

# Per-sample transition probabilities, as 24-bit thresholds on one uniform draw.
_SCALE24 = 1 << 24
_RUN_TO_ALARM = int(0.0004 * _SCALE24)
_RUN_TO_IDLE = _RUN_TO_ALARM + int(0.003 * _SCALE24)
_IDLE_TO_ALARM = int(0.0001 * _SCALE24)
_IDLE_TO_RUN = _IDLE_TO_ALARM + int(0.02 * _SCALE24)
_ALARM_TO_IDLE = int(0.06 * _SCALE24)
_ALARM_TO_RUN = _ALARM_TO_IDLE + int(0.04 * _SCALE24)

_TAU_S = (600.0, 1800.0, 300.0)
"""Thermal time constant by state: heating while running, cooling when idle, fast in alarm."""
_DAY_OMEGA = 2.0 * math.pi / 86_400.0

_PROFILE_BITS = 12
_PROFILE_MASK = (1 << _PROFILE_BITS) - 1
_PROFILE_SEED = 0x6D616368696E65  # fixed: profiles are machine types, the same in every run
_MODEL_TAG = 1  # keeps this model's streams apart from other models' for the same seed and index
_DRIFT_C = 1.5  # amplitude of the daily ambient swing, °C
_MIN_GAP_C = 1e-9  # log() needs a positive gap between temperature and target

_TO_UNIT20 = 2.0**-20
_TO_UNIT10 = 2.0**-10

Profile = tuple[tuple[float, float, float], float, float, float, float, float, float]


class MachineState:
    """One machine's state: its stream key, regime and temperature anchor (112 bytes)."""

    __slots__ = ("key", "regime", "t0")

    def __init__(self, key: int, regime: int, t0: float) -> None:
        self.key = key
        """60-bit stream key from (seed, index); its low bits also pick the machine profile."""
        self.regime = regime
        """``2 * state + above``: the Markov state and whether temperature is above target."""
        self.t0 = t0
        """Time anchor of the temperature curve (see the module docstring)."""


def _make_profile(number: int) -> Profile:
    draw = uniform_draws(_PROFILE_SEED, number)
    ambient = draw(0, 20.0, 24.0)
    running = draw(1, 49.0, 69.0)  # equilibrium at average load
    return (
        (running, ambient, running + 15.0),  # temperature target by state, °C
        1.0 / (running - ambient),
        2.0 * math.pi / draw(2, 600.0, 3600.0),  # load cycle, rad/s
        draw(3, 0.0, 2.0 * math.pi),  # load cycle phase
        draw(4, 0.0, 2.0 * math.pi),  # daily drift phase
        draw(5, 0.85, 1.0),  # vibration gain
        draw(6, 14.0, 20.0),  # rated power, kW
    )


class MachineSensor:
    """The ``machine-sensor`` device model (see the module docstring)."""

    __slots__ = ("_profiles",)

    name = "machine-sensor"
    id_prefix = "ms"
    signals: Mapping[str, Signal] = MappingProxyType(
        {
            "temperature_c": Signal("°C", 18.0, 90.0),
            "vibration_mm_s": Signal("mm/s", 0.2, 20.0),
            "power_kw": Signal("kW", 0.3, 21.0),
            "state": Signal("", choices=STATE_NAMES),
        }
    )

    def __init__(self) -> None:
        self._profiles = tuple(_make_profile(n) for n in range(1 << _PROFILE_BITS))

    def new_state(self, index: int, seed: int) -> MachineState:
        """Return device ``index``'s state at t = 0: running (85 %) or idle, at ambient."""
        key = device_key(seed, index, _MODEL_TAG)
        targets = self._profiles[key & _PROFILE_MASK][0]
        state = RUNNING if unit(seed, index, _MODEL_TAG + 1) < 0.85 else IDLE
        regime, t0 = _anchor(state, targets[IDLE], targets[state], 0.0)
        return MachineState(key, regime, t0)

    def sample(self, state: MachineState, seq: int, t_s: float) -> dict[str, SampleValue]:
        """Step the Markov chain once, move temperature to ``t_s`` and return the readings."""
        key = state.key
        # SplitMix64 output number ``seq`` of this device's stream (noise.stream, inlined: this
        # is the hottest function in the simulator).
        z = (key + (seq + 1) * GOLDEN) & MASK64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        w = z ^ (z >> 31)
        # Bits 0-23 step the chain, 24-43 jitter the load, 44-53 vibration, 54-63 temperature.
        draw = w & 0xFFFFFF
        jitter = ((w >> 24) & 0xFFFFF) * _TO_UNIT20
        vib_draw = ((w >> 44) & 0x3FF) * _TO_UNIT10
        temp_draw = (w >> 54) * _TO_UNIT10

        targets, inv_span, omega, phase, drift_phase, vib_gain, rated_kw = self._profiles[
            key & _PROFILE_MASK
        ]
        swing = 0.25 * math.sin(omega * t_s + phase)  # slow load swing, in [-0.25, 0.25]
        load = 0.55 + swing + 0.1 * jitter  # in [0.3, 0.9)

        regime = state.regime
        current = regime >> 1
        sign = 1.0 if regime & 1 else -1.0
        curve = targets[current] + sign * math.exp((state.t0 - t_s) / _TAU_S[current])
        if current == RUNNING:
            nxt = ALARM if draw < _RUN_TO_ALARM else IDLE if draw < _RUN_TO_IDLE else RUNNING
        elif current == IDLE:
            nxt = ALARM if draw < _IDLE_TO_ALARM else RUNNING if draw < _IDLE_TO_RUN else IDLE
        else:
            nxt = IDLE if draw < _ALARM_TO_IDLE else RUNNING if draw < _ALARM_TO_RUN else ALARM
        if nxt != current:
            state.regime, state.t0 = _anchor(nxt, curve, targets[nxt], t_s)

        # The load effect on temperature scales with how hot the machine is (0 at ambient, 1
        # at running equilibrium), so it fades in and out with the regime instead of jumping.
        heat = (curve - targets[IDLE]) * inv_span
        temperature = (
            curve
            + _DRIFT_C * math.sin(_DAY_OMEGA * t_s + drift_phase)
            + 8.0 * swing * heat
            + 0.2 * temp_draw
            - 0.1
        )
        if nxt == RUNNING:
            vibration = vib_gain * (1.5 + 5.0 * load) * (0.96 + 0.08 * vib_draw)
            power = rated_kw * (0.3 + 0.7 * load)
        elif nxt == IDLE:
            vibration = 0.2 + 0.3 * vib_draw
            power = 0.3 + 0.7 * jitter
        else:
            vibration = vib_gain * (12.0 + 6.0 * load) * (0.96 + 0.08 * vib_draw)
            power = 1.1 * rated_kw * (0.3 + 0.7 * load)
        return {
            "temperature_c": temperature,
            "vibration_mm_s": vibration,
            "power_kw": power,
            "state": STATE_NAMES[nxt],
        }


def _anchor(state: int, temperature: float, target: float, t_s: float) -> tuple[int, float]:
    """Return the regime and ``t0`` that put the curve of ``state`` through ``temperature``."""
    gap = temperature - target
    t0 = t_s + _TAU_S[state] * math.log(max(abs(gap), _MIN_GAP_C))
    return 2 * state + (gap > 0), t0
