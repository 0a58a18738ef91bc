"""The gateway check reading a Sparkplug B gateway through a real Mosquitto: DBIRTH with
names and aliases, DDATA by alias, every value checked against the served registers."""

from __future__ import annotations

import json
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from simulator.broker import LocalBroker
from simulator.northbound.harness import SouthboundCheck
from simulator.payloads.sparkplug.model import Metric, SparkplugPayload
from simulator.payloads.sparkplug.payload import encode_payload
from simulator.scenario.loader import validate_scenario
from simulator.southbound.service import served_fleet
from tests.waiting import wait_until_sync

pytestmark = pytest.mark.broker

SCENARIO = {
    "name": "sparkplug-check",
    "seed": 2,
    "duration_s": 60,
    "fleet": {"devices": 3, "model": "power-meter", "publish_interval_s": 1.0},
    "southbound": {"port": 0, "update_s": 3600.0},
    "gateway": {"format": "sparkplug", "max_staleness_ms": 1000},
}
"""Values that hold for an hour, so what the test publishes now is what the registers show."""


def test_a_sparkplug_gateway_is_read_by_alias_and_checked(
    mosquitto: LocalBroker, tmp_path: Path
) -> None:
    scenario = validate_scenario(SCENARIO, "test")
    check = SouthboundCheck(scenario, mosquitto.url, tmp_path / "hint.json")
    check.start()
    hint = json.loads((tmp_path / "hint.json").read_text())
    fleet = served_fleet(scenario)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="edge-node")
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    try:
        for device in fleet:
            fields = fleet.map_of(device.index).fields
            now = time.time() - hint["epoch_unix_s"]
            numbers = fleet.encoder_of(device.index).numbers(fleet.registers(device.index, now))
            values = [field.value(n) for field, n in zip(fields, numbers, strict=True)]
            birth = SparkplugPayload(
                0,
                tuple(
                    Metric(f"Modbus/{field.signal}", alias, value=value)
                    for alias, (field, value) in enumerate(zip(fields, values, strict=True))
                ),
                0,
            )
            data = SparkplugPayload(
                0, tuple(Metric(alias=a, value=v) for a, v in enumerate(values)), 1
            )
            topic = f"spBv1.0/plant/{{}}/edge/{device.device_id}"
            client.publish(topic.format("DBIRTH"), encode_payload(birth), qos=1).wait_for_publish()
            client.publish(topic.format("DDATA"), encode_payload(data), qos=1).wait_for_publish()
        wait_until_sync(lambda: check.received >= 6, "the check to hear every message")
    finally:
        client.loop_stop()
        client.disconnect()
        report = check.stop()
    gateway = report["gateway"]
    assert gateway["topic"] == "spBv1.0/+/+/+/+"
    assert gateway["devices"]["seen"] == 3
    assert gateway["tags"]["missing"] == 0
    values = gateway["values"]
    assert values["wrong"] == 0, values
    assert values["correct"] == 2 * gateway["tags"]["expected"]
