"""The MQTT protocol versions this core speaks."""

from __future__ import annotations

from enum import IntEnum

from simulator.errors import InvalidArgumentError


class MQTTVersion(IntEnum):
    """An MQTT protocol level, as carried in the CONNECT packet."""

    V311 = 4
    """MQTT 3.1.1."""
    V5 = 5
    """MQTT 5.0."""

    @classmethod
    def named(cls, name: str) -> MQTTVersion:
        """The version a scenario's ``mqtt_version`` or the ``--mqtt`` option names."""
        try:
            return _BY_NAME[name]
        except KeyError:
            known = ", ".join(repr(known) for known in _BY_NAME)
            raise InvalidArgumentError(
                f"no MQTT version is named {name!r}; the names are {known}"
            ) from None


_BY_NAME = {"3.1.1": MQTTVersion.V311, "5": MQTTVersion.V5}
"""Every version by the name scenarios and the command line give it."""
