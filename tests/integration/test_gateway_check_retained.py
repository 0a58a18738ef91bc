"""A retained message a gateway left on the broker (an earlier run's, say) is what the broker
sends the check first when it subscribes: counted as retained, never checked as wrong."""

from __future__ import annotations

import json
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from simulator.broker import LocalBroker
from simulator.northbound.harness import SouthboundCheck
from simulator.scenario.loader import validate_scenario
from tests.waiting import wait_until_sync

pytestmark = pytest.mark.broker


def test_a_retained_message_from_before_the_check_is_not_checked(
    mosquitto: LocalBroker, tmp_path: Path
) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="last-run-gateway")
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    try:
        old = json.dumps({"values": {"power_factor": 7.5}})
        client.publish("north/pm-000001", old, qos=1, retain=True).wait_for_publish()
    finally:
        client.loop_stop()
        client.disconnect()
    scenario = validate_scenario(
        {
            "name": "retained",
            "duration_s": 60,
            "fleet": {"devices": 2, "model": "power-meter", "publish_interval_s": 1.0},
            "southbound": {"port": 0},
            "gateway": {"topic": "north/{device}"},
        },
        "test",
    )
    check = SouthboundCheck(scenario, mosquitto.url, tmp_path / "hint.json")
    check.start()
    try:
        wait_until_sync(lambda: check.received >= 1, "the retained message")
    finally:
        report = check.stop()
    gateway = report["gateway"]
    assert gateway["messages"]["retained"] == 1
    assert gateway["values"]["checked"] == 0
    assert gateway["devices"]["seen"] == 0
