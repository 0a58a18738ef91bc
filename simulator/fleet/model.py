"""The device model interface: compact per-device state and a pure ``sample`` step.

A model is one shared, immutable object per kind of equipment. Each device owns only the small
state object :meth:`DeviceModel.new_state` returns (a few ``__slots__``); the model advances
that state when asked for a sample. Time is passed in, never read, and all randomness comes
from :mod:`simulator.fleet.noise`, so a device's stream depends only on the seed, its index and
the sequence of ``(seq, t_s)`` it is sampled at.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

SampleValue = float | int | str
"""One value in a sample: a measurement, a counter or a state name."""


@dataclass(frozen=True, slots=True)
class Signal:
    """What a model promises about one signal: its unit and range, or its allowed choices."""

    unit: str
    """Engineering unit, e.g. ``°C``; empty for a state name."""
    low: float = -math.inf
    """Smallest value a numeric signal takes."""
    high: float = math.inf
    """Largest value a numeric signal takes."""
    choices: tuple[str, ...] = ()
    """For a state signal, every name it can take; empty for a numeric signal."""
    monotonic: bool = False
    """A counter or register that never decreases from one sample to the next."""

    def accepts(self, value: object) -> bool:
        """Whether ``value`` is one this signal can report."""
        if self.choices:
            return type(value) is str and value in self.choices
        return type(value) in (int, float) and self.low <= value <= self.high  # type: ignore[operator]


class DeviceModel(Protocol):
    """A kind of equipment: how to make one device's state and how to sample it."""

    name: str
    """The name scenarios use, e.g. ``machine-sensor``."""
    id_prefix: str
    """Short prefix for device ids of this model, e.g. ``ms`` (see :class:`PlantLayout`)."""
    signals: Mapping[str, Signal]
    """Every key :meth:`sample` returns, in order, with its unit and range."""

    def new_state(self, index: int, seed: int) -> Any:
        """Return the compact state of device ``index`` at the start of a run seeded ``seed``."""
        ...

    def sample(self, state: Any, seq: int, t_s: float) -> dict[str, SampleValue]:
        """Advance ``state`` to ``t_s`` seconds since the run started; return message ``seq``.

        Samples are taken in increasing ``seq``; the result has exactly the keys of
        :attr:`signals`.
        """
        ...
