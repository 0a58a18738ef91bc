"""The MQTT protocol versions this core speaks."""

from __future__ import annotations

from enum import IntEnum


class MQTTVersion(IntEnum):
    """An MQTT protocol level, as carried in the CONNECT packet."""

    V311 = 4
    """MQTT 3.1.1."""
    V5 = 5
    """MQTT 5.0."""
