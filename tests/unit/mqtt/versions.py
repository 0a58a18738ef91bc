"""The MQTT versions the core's unit tests run under, named here once for every module."""

from __future__ import annotations

from simulator.mqtt import MQTTVersion

V311, V5 = MQTTVersion.V311, MQTTVersion.V5
VERSIONS = [V311, V5]
"""Every version the core speaks, for ``@pytest.mark.parametrize("version", VERSIONS)``."""
