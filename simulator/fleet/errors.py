"""Errors the fleet room raises: bad fleet settings, each naming what is allowed.

All derive from :class:`FleetConfigError`, a :class:`~simulator.errors.SimulatorError`, so the
scenario validator can catch one class and turn the message into a scenario problem::

    SimulatorError
    └── FleetConfigError
        ├── UnknownModelError     no device model has that name
        ├── PlantLayoutError      a plant size or device id prefix is out of range
        └── TopicTemplateError    a topic template has an unknown placeholder or bad level
"""

from __future__ import annotations

from simulator.errors import SimulatorError


class FleetConfigError(SimulatorError):
    """A fleet setting is invalid; the message says what is allowed."""


class UnknownModelError(FleetConfigError):
    """No device model is registered under the requested name."""


class PlantLayoutError(FleetConfigError):
    """A plant layout was asked for with out-of-range sizes or an unusable id prefix."""


class TopicTemplateError(FleetConfigError):
    """A topic template cannot produce valid MQTT topic names."""
