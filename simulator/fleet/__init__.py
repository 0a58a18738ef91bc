"""Equipment models, compact per-device state and the plant hierarchy.

A :class:`DeviceModel` is looked up by name with :func:`get_model`; each device holds only the
small state the model gives it. The equipment models (CNC machine, PLC line, moulding machine,
robot, power meter, vibration and environment sensors) share a plant shift calendar
(:mod:`~simulator.fleet.shift`) and regimes that change in time (:mod:`~simulator.fleet.regime`);
docs/MODELS.md describes each. :class:`PlantLayout` places devices on sites and lines and
:class:`TopicTemplate` names their topics. Nothing here does I/O or reads a clock.
"""

from simulator.errors import (
    FleetConfigError,
    PlantLayoutError,
    TopicTemplateError,
    UnknownModelError,
)
from simulator.fleet.model import DeviceModel, SampleValue, Signal
from simulator.fleet.plant import (
    DEFAULT_TOPIC,
    PLACEHOLDERS,
    DeviceIdentity,
    PlantLayout,
    TopicTemplate,
)
from simulator.fleet.registry import get_model, model_names

__all__ = [
    "DEFAULT_TOPIC",
    "PLACEHOLDERS",
    "DeviceIdentity",
    "DeviceModel",
    "FleetConfigError",
    "PlantLayout",
    "PlantLayoutError",
    "SampleValue",
    "Signal",
    "TopicTemplate",
    "TopicTemplateError",
    "UnknownModelError",
    "get_model",
    "model_names",
]
