"""QoS 0 telemetry with topic aliases, against a real Mosquitto.

The fleet's default QoS 0 messages are framed by each connection's session, so with
``broker.topic_aliases = true`` they use the aliases Mosquitto's CONNACK allows (its
``max_topic_alias`` defaults to 10; ``broker_config/`` leaves it so). Two gateways of 12
devices each publish: the test records every byte the fleet writes and checks that each
gateway named each of its first 10 devices' topics once, then sent those devices' messages
with the empty topic and the alias alone, and that its last two devices, past the broker's
maximum, kept their topics. A paho subscriber checks that Mosquitto resolved every alias to
the right topic: each message arrives once, on its own device's topic.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, cast

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from simulator.broker import LocalBroker
from simulator.engine.fleet import Fleet, FleetOptions
from simulator.mqtt import Decoder, MQTTVersion, Publish
from simulator.payloads import get_codec
from simulator.scenario import OnboardingPlan, validate_scenario
from tests.fleets import live_fleet

pytestmark = pytest.mark.broker

PER_GATEWAY = 12
GATEWAYS = 2
MESSAGES = 5
MOSQUITTO_ALIASES = 10
"""Mosquitto 2.0's default ``max_topic_alias``, which ``broker_config/`` does not change."""
CODEC = get_codec("msgpack")
V5 = MQTTVersion.V5


class RecordingTransport:
    """Keeps every byte written; the real transport sends them."""

    def __init__(self, inner: asyncio.Transport) -> None:
        self.inner = inner
        self.written = bytearray()

    def write(self, data: bytes) -> None:
        self.written += data
        self.inner.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def aliased_run(broker: LocalBroker) -> tuple[Fleet, list[RecordingTransport]]:
    """Onboard the gateways, record their writes, publish every device's messages."""
    devices = PER_GATEWAY * GATEWAYS
    scenario = validate_scenario(
        {
            "name": "qos0-aliases",
            "duration_s": 1.0,
            "broker": {"url": broker.url, "mqtt_version": "5", "topic_aliases": True},
            "fleet": {
                "devices": devices,
                "publish_interval_s": 0.02,
                "qos": 0,
                "devices_per_connection": PER_GATEWAY,
            },
            "onboarding": {"rate_per_s": 1000.0, "max_in_flight": 10},
            "ingest": {"enabled": False},
        },
        "<test>",
    )
    fleet = live_fleet(scenario, FleetOptions(messages_per_device=MESSAGES))
    fleet.build()
    stats = await fleet.onboard(OnboardingPlan(GATEWAYS, 1000.0), publish_while_onboarding=False)
    assert stats.connected == GATEWAYS
    recorders = []
    for connection in range(GATEWAYS):
        link = fleet.devices[connection * PER_GATEWAY].link
        assert link is not None
        assert link.transport is not None
        recorder = RecordingTransport(link.transport)
        link.transport = cast(asyncio.Transport, recorder)
        recorders.append(recorder)
    fleet.start_publishing()
    await asyncio.wait_for(fleet.wait_finished(), 30)
    fleet.stop_publishing()
    return fleet, recorders


class Observer:
    """A paho MQTT 5 subscriber that records (topic, device, seq) of every message."""

    def __init__(self, broker: LocalBroker, expected: int) -> None:
        self.received: list[tuple[str, str, int]] = []
        self.expected = expected
        self.all_in = threading.Event()
        subscribed = threading.Event()
        client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id="alias-observer", protocol=paho.MQTTv5
        )
        client.on_connect = lambda c, *_: c.subscribe("factory/#", qos=0)
        client.on_subscribe = lambda *_: subscribed.set()
        client.on_message = self._on_message
        client.connect(broker.host, broker.port)
        client.loop_start()
        self.client = client
        assert subscribed.wait(10)

    def _on_message(self, _c: paho.Client, _u: Any, message: paho.MQTTMessage) -> None:
        telemetry = CODEC.decode(bytes(message.payload))
        self.received.append((message.topic, telemetry.device_id, telemetry.seq))
        if len(self.received) >= self.expected:
            self.all_in.set()

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def publishes(data: bytes) -> list[Publish]:
    decoder = Decoder(V5)
    decoder.feed(data)
    return [packet for packet in decoder if isinstance(packet, Publish)]


def test_qos0_messages_use_the_aliases_mosquitto_allows(mosquitto: LocalBroker) -> None:
    expected = GATEWAYS * PER_GATEWAY * MESSAGES
    observer = Observer(mosquitto, expected)
    try:

        async def scenario() -> tuple[Fleet, list[RecordingTransport]]:
            fleet, recorders = await aliased_run(mosquitto)
            link = fleet.devices[0].link
            assert link is not None
            # The limits came from Mosquitto's CONNACK.
            assert link.session.limits.topic_alias_maximum == MOSQUITTO_ALIASES
            await fleet.disconnect_all()
            return fleet, recorders

        fleet, recorders = asyncio.run(scenario())
        assert observer.all_in.wait(20)
    finally:
        observer.stop()

    assert fleet.counters.published == expected
    assert fleet.counters.too_large == 0
    topics = {device.device_id: device for device in fleet.devices}
    # What the broker delivered: every message once, on its own device's topic.
    assert len(observer.received) == expected
    assert len({(device, seq) for _, device, seq in observer.received}) == expected
    for topic, device_id, _ in observer.received:
        assert topic.startswith("factory/")
        assert topic.endswith(f"/{device_id}/telemetry")
        assert device_id in topics

    # What the fleet wrote: aliases for the first 10 topics of each gateway, the rest in full.
    for recorder in recorders:
        sent = publishes(bytes(recorder.written))
        telemetry = [p for p in sent if p.topic.startswith("factory/") or not p.topic]
        assert len(telemetry) == PER_GATEWAY * MESSAGES
        by_alias: dict[int, list[str]] = {}
        full: list[str] = []
        for publish in telemetry:
            alias = publish.properties.topic_alias
            if alias is None:
                full.append(publish.topic)
            else:
                by_alias.setdefault(alias, []).append(publish.topic)
        assert sorted(by_alias) == list(range(1, MOSQUITTO_ALIASES + 1))
        for sent_topics in by_alias.values():
            assert sent_topics[0].startswith("factory/")
            assert sent_topics[1:] == [""] * (MESSAGES - 1)
        assert len(full) == (PER_GATEWAY - MOSQUITTO_ALIASES) * MESSAGES
        assert len(set(full)) == PER_GATEWAY - MOSQUITTO_ALIASES
