"""Which device models exist, by the name a scenario uses for them."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from simulator.fleet.errors import UnknownModelError
from simulator.fleet.machine_sensor import MachineSensor
from simulator.fleet.model import DeviceModel

_FACTORIES: dict[str, Callable[[], DeviceModel]] = {
    MachineSensor.name: MachineSensor,
}


def model_names() -> tuple[str, ...]:
    """Names of every device model."""
    return tuple(_FACTORIES)


def get_model(name: str) -> DeviceModel:
    """Return the model called ``name``; raises :class:`UnknownModelError` naming the allowed ones.

    Models are immutable, so every caller shares one instance (built on first use: a model may
    precompute tables).
    """
    if name not in _FACTORIES:
        allowed = ", ".join(_FACTORIES)
        raise UnknownModelError(f"unknown device model {name!r}; allowed: {allowed}")
    return _build(name)


@cache
def _build(name: str) -> DeviceModel:
    return _FACTORIES[name]()
