"""Wills fire when devices vanish; MQTT 5 options reach the broker (real Mosquitto)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from simulator.broker import LocalBroker
from simulator.errors import ScenarioError
from simulator.scenario import OnboardingPlan, validate_scenario
from tests.fleets import live_fleet
from tests.waiting import wait_until, wait_until_sync

pytestmark = pytest.mark.broker


def scenario(broker: LocalBroker, version: str, **broker_table: Any) -> Any:
    return validate_scenario(
        {
            "name": "wills",
            "duration_s": 1.0,
            "broker": {"url": broker.url, "mqtt_version": version, **broker_table},
            "fleet": {
                "devices": 12,
                "publish_interval_s": 0.1,
                "devices_per_connection": 3,
                "will": {"payload": "gone", "qos": 1, "retain": False},
            },
            "onboarding": {"rate_per_s": 1000.0, "max_in_flight": 4, "reconnect": False},
            "ingest": {"enabled": False},
        },
        "<test>",
    )


async def kill_gateways(broker: LocalBroker, version: str, **broker_table: Any) -> int:
    fleet = live_fleet(scenario(broker, version, **broker_table))
    fleet.build()
    await fleet.onboard(OnboardingPlan(fleet.connection_count, 1000.0))
    await wait_until(
        lambda: len(fleet.published_by_device()) == len(fleet.devices), "every device to publish"
    )
    fleet.stop_publishing()
    links = {id(d.link): d.link for d in fleet.devices if d.link is not None}
    for link in links.values():
        link.abort()  # vanish without DISCONNECT, as a crashed gateway does
    await wait_until(lambda: fleet.connected == 0, "the aborted connections to close")
    return len(links)


@pytest.mark.parametrize(
    ("version", "broker_table"),
    [("3.1.1", {}), ("5", {"topic_aliases": True, "session_expiry_s": 0})],
)
def test_every_vanished_gateway_has_its_will_published(
    mosquitto: LocalBroker, version: str, broker_table: dict[str, Any]
) -> None:
    wills: list[tuple[str, bytes]] = []
    subscribed = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="will-watcher")
    client.on_connect = lambda c, *_: c.subscribe("factory/+/+/+/status", qos=1)
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = lambda _c, _u, m: wills.append((m.topic, bytes(m.payload)))
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    try:
        assert subscribed.wait(10)
        killed = asyncio.run(kill_gateways(mosquitto, version, **broker_table))
        wait_until_sync(lambda: len(wills) >= killed, "every gateway's will", 10)
    finally:
        client.loop_stop()
        client.disconnect()
    assert killed == 4
    assert sorted(topic.split("/")[3] for topic, _ in wills) == [f"gw-{i:05d}" for i in range(4)]
    assert {payload for _, payload in wills} == {b"gone"}


def test_mqtt5_only_options_are_refused_on_3_1_1(mosquitto: LocalBroker) -> None:
    with pytest.raises(ScenarioError, match="need mqtt_version"):
        scenario(mosquitto, "3.1.1", topic_aliases=True)
