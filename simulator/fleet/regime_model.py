"""What every regime-driven device model shares: its profile table, noise rows, signal table
and the start of each device.

The equipment models (all but ``machine-sensor``) are built alike: per-device constants come
from a table of 1,024 device profiles that bits 20-29 of the device key pick, measurement noise
from the shared :func:`~simulator.fleet.noise.noise_rows`, and the first signal is the state,
named by the model's :class:`~simulator.fleet.regime.Chain`. A device starts with its stream
key, its run's shift calendar and the regime the chain draws for t = 0
(:meth:`RegimeModel.first_regime`). :class:`RegimeModel` holds the two tables; a model names its
chain, shifts, stream tag and profile maker, and adds its state class, its ``new_state`` and
its ``sample``, which reads the tables inline (it is the hot path: nothing here adds a call per
sample). A model whose work comes in cycles (parts, shots) ends its running regimes with
:func:`whole_cycles`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Generic, TypeVar

from simulator.fleet.model import Signal
from simulator.fleet.noise import device_key, noise_rows
from simulator.fleet.regime import Chain
from simulator.fleet.shift import ShiftCalendar, calendar_for

PROFILE_MASK = 1023
"""A device's profile is number ``(key >> 20) & PROFILE_MASK`` of its model's table."""

P = TypeVar("P")
"""A model's profile: a tuple of its per-device constants."""


class RegimeModel(Generic[P]):
    """The tables a regime-driven model samples from; each model subclasses it."""

    __slots__ = ("_profiles", "_rows")

    name: str
    """The name scenarios use (see :class:`~simulator.fleet.model.DeviceModel`)."""
    id_prefix: str
    """Short prefix of the model's device ids."""
    signals: Mapping[str, Signal]
    """Every key a sample has, in order (see :func:`state_signals`)."""
    chain: Chain
    """The model's regimes."""
    shifts: tuple[tuple[int, int], ...]
    """The on-shift windows its devices' calendar has (see :mod:`simulator.fleet.shift`)."""
    model_tag: int
    """Keeps this model's device streams apart from other models' for the same seed and index."""
    make_profile: Callable[[int], P]
    """Profile number ``number`` of the model's table, drawn from the model's own seed."""

    def __init__(self) -> None:
        self._profiles = tuple(self.make_profile(number) for number in range(PROFILE_MASK + 1))
        """Every device profile, by number; built once per process."""
        self._rows = noise_rows()
        """The shared rows of standard normal noise."""

    def first_regime(self, index: int, seed: int) -> tuple[int, ShiftCalendar, int, float, int]:
        """Where device ``index`` of run ``seed`` starts: its stream key, the run's shared shift
        calendar, and the regime it is in at t = 0, when that ends and the draw that picked it
        (see :meth:`~simulator.fleet.regime.Chain.first`; its bits 48-63 are the model's own).
        """
        key = device_key(seed, index, self.model_tag)
        calendar = calendar_for(seed, self.shifts)
        regime, until, draw = self.chain.first(key, calendar)
        return key, calendar, regime, until, draw

    def profile(self, key: int) -> P:
        """The profile of the device with stream key ``key`` (off the hot path)."""
        return self._profiles[(key >> 20) & PROFILE_MASK]


def whole_cycles(
    at: float, until: float, cycle_s: float, most: int | None = None
) -> tuple[int, float]:
    """Fit a running regime from ``at`` to whole work cycles of ``cycle_s``: a started part is
    finished, so it ends after the last cycle, not at the drawn ``until``.

    Returns the number of cycles, as many as fit before ``until`` but at least one (and at
    most ``most`` when given: a tool's remaining life), and the time the last one ends.
    """
    cycles = max(1, int((until - at) / cycle_s))
    if most is not None:
        cycles = min(cycles, most)
    return cycles, at + cycles * cycle_s


def state_signals(chain: Chain, signals: Mapping[str, Signal]) -> Mapping[str, Signal]:
    """A model's signal table: ``state``, taking the chain's state names, then ``signals``."""
    return MappingProxyType({"state": Signal("", choices=chain.state_names), **signals})
