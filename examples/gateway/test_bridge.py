"""Testing the gateway with the simulator's pytest plugin: a fleet in, the platform's view out.

``factory_broker`` is the broker the gateway and the fleet share (a Mosquitto started for the
session, or ``--factory-broker mqtt://host:port``); ``factory_fleet`` onboards simulated
devices, lets them publish, and returns the run's report. The platform side is played by a
plain MQTT subscriber that counts what reached ``platform/ingest/#``.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from bridge import TARGET_PREFIX, Bridge
from paho.mqtt.enums import CallbackAPIVersion

from simulator.harness import BrokerEndpoint
from simulator.pytest_plugin import FleetFactory

WAIT_S = 15.0
"""Longest any wait in these tests may take; a healthy run needs well under a second."""


class PlatformInbox:
    """The platform's side: counts forwarded messages per device."""

    def __init__(self, host: str, port: int) -> None:
        self.by_device: Counter[str] = Counter()
        self._changed = threading.Condition()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="platform-inbox", protocol=mqtt.MQTTv5
        )
        self._client.on_connect = lambda client, *_: client.subscribe(f"{TARGET_PREFIX}/#", qos=1)
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect(host, port)
        self._client.loop_start()

    @property
    def total(self) -> int:
        """Messages received so far."""
        return self.by_device.total()

    def wait_subscribed(self, timeout_s: float) -> bool:
        """Whether the subscription was confirmed within ``timeout_s``."""
        return self._subscribed.wait(timeout_s)

    def wait_for(self, count: int, timeout_s: float) -> bool:
        """Wait until at least ``count`` messages arrived; ``False`` on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self.total >= count, timeout_s)

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self._client.disconnect()
        self._client.loop_stop()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._changed:
            self.by_device[message.topic.rsplit("/", 1)[1]] += 1
            self._changed.notify_all()


@pytest.fixture
def inbox(factory_broker: BrokerEndpoint) -> Iterator[PlatformInbox]:
    """A platform subscriber on ``platform/ingest/#``, subscribed before the test starts."""
    platform = PlatformInbox(factory_broker.host, factory_broker.port)
    try:
        assert platform.wait_subscribed(WAIT_S), "the platform subscriber got no SUBACK"
        yield platform
    finally:
        platform.close()


@pytest.fixture
def bridge(factory_broker: BrokerEndpoint) -> Iterator[Bridge]:
    """The gateway under test, running against the shared broker."""
    with Bridge(factory_broker.host, factory_broker.port) as running:
        yield running


def test_the_gateway_forwards_every_message_of_an_onboarded_fleet(
    factory_fleet: FleetFactory, bridge: Bridge, inbox: PlatformInbox
) -> None:
    report = factory_fleet(devices=50, interval_s=0.5, duration_s=2.0)

    # The fleet itself is healthy: every device onboarded and ingest accounted for every message.
    assert report.devices.connected == 50
    assert report.messages.lost == 0
    assert report.ok, report.problems
    published = report.messages.published
    # 50 devices every 0.5 s for at least 2 s after the last one onboarded.
    assert published >= 200

    # The gateway forwarded all of it, and exactly that much reached the platform.
    assert bridge.wait_forwarded(published, WAIT_S), (bridge.received, bridge.forwarded)
    assert inbox.wait_for(published, WAIT_S), inbox.total
    assert bridge.received == published
    assert inbox.total == published
    assert len(inbox.by_device) == 50
