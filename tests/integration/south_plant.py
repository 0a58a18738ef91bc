"""The plant the south side's servers are tested with, the same over Modbus TCP and OPC UA."""

from __future__ import annotations

from simulator.fleet import PlantLayout
from simulator.scenario.composition import Group

GROUPS = (
    Group("cnc-machine", "msgpack", 1.0, 0, 4),
    Group("power-meter", "msgpack", 2.0, 4, 3),
    Group("robot", "msgpack", 0.5, 7, 3),
)
"""Ten devices of three models, each model at its own interval."""
LAYOUT = PlantLayout(2, 2)
SEED = 9
"""A seed whose plant is on shift at the start: machines running, values moving with time."""
