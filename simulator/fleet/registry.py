"""Which device models exist, by the name a scenario uses for them."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from simulator.errors import UnknownModelError
from simulator.fleet.cnc_machine import CncMachine
from simulator.fleet.environment_sensor import EnvironmentSensor
from simulator.fleet.machine_sensor import MachineSensor
from simulator.fleet.model import DeviceModel
from simulator.fleet.moulding_machine import MouldingMachine
from simulator.fleet.plc_line import PlcLine
from simulator.fleet.power_meter import PowerMeter
from simulator.fleet.robot import Robot
from simulator.fleet.vibration_sensor import VibrationSensor

_FACTORIES: dict[str, Callable[[], DeviceModel]] = {
    MachineSensor.name: MachineSensor,
    CncMachine.name: CncMachine,
    PlcLine.name: PlcLine,
    MouldingMachine.name: MouldingMachine,
    Robot.name: Robot,
    PowerMeter.name: PowerMeter,
    VibrationSensor.name: VibrationSensor,
    EnvironmentSensor.name: EnvironmentSensor,
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
