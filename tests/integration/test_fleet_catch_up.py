"""A fleet far behind schedule, against a real Mosquitto: merged backlogs, nothing lost.

The test stalls the event loop right after publishing starts, so the first scheduler tick finds
every wheel many intervals behind. Each device's overdue messages then leave in one write; an
independent paho subscriber checks that every message arrives exactly once and in order.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, cast

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from simulator.broker import LocalBroker
from simulator.engine.fleet import FleetOptions
from simulator.engine.publishing import CATCH_UP_REPEATS
from simulator.payloads import get_codec
from simulator.scenario import OnboardingPlan, validate_scenario
from tests.fleets import live_fleet
from tests.waiting import wait_until_sync

pytestmark = pytest.mark.broker

DEVICES = 300
MESSAGES = 20
INTERVAL_S = 0.01
STALL_S = 0.15
"""How long the loop is held after publishing starts: 15 intervals, more than the merge limit."""
CODEC = get_codec("msgpack")


class CountingTransport:
    """Counts the writes that carry PUBLISH packets; everything else goes to the real one."""

    def __init__(self, inner: asyncio.Transport) -> None:
        self.inner = inner
        self.publish_writes = 0

    def write(self, data: bytes) -> None:
        if data[0] >> 4 == 3:
            self.publish_writes += 1
        self.inner.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def stalled_run(broker: LocalBroker, *, merge: bool) -> tuple[int, int, int]:
    """Publish every device's quota from a stalled start; (writes, published, overrun)."""
    scenario = validate_scenario(
        {
            "name": "catch-up",
            "duration_s": 1.0,
            "broker": {"url": broker.url},
            "fleet": {"devices": DEVICES, "publish_interval_s": INTERVAL_S},
            "onboarding": {"rate_per_s": 5000.0, "max_in_flight": 50},
            "ingest": {"enabled": False},
        },
        "<test>",
    )
    fleet = live_fleet(scenario, FleetOptions(messages_per_device=MESSAGES, merge_overdue=merge))
    fleet.build()
    stats = await fleet.onboard(OnboardingPlan(DEVICES, 5000.0), publish_while_onboarding=False)
    assert stats.connected == DEVICES
    counters: list[CountingTransport] = []
    for device in fleet.devices:
        assert device.link is not None
        assert device.link.transport is not None
        counting = CountingTransport(device.link.transport)
        device.link.transport = cast(asyncio.Transport, counting)
        counters.append(counting)
    fleet.start_publishing()
    time.sleep(STALL_S)  # noqa: ASYNC251 - blocking on purpose: the sender falls behind
    await asyncio.wait_for(fleet.wait_finished(), 30)
    writes = sum(counting.publish_writes for counting in counters)
    fleet.stop_publishing()
    await fleet.disconnect_all()
    return writes, fleet.counters.published, fleet.overrun


def subscribed(broker: LocalBroker, received: list[tuple[str, int]]) -> paho.Client:
    """A paho client that records (device, seq) of every message, in arrival order."""
    ready = threading.Event()

    def on_connect(client: paho.Client, *_: Any) -> None:
        client.subscribe("factory/#", qos=0)

    def on_message(_c: paho.Client, _u: Any, message: paho.MQTTMessage) -> None:
        telemetry = CODEC.decode(bytes(message.payload))
        received.append((telemetry.device_id, telemetry.seq))

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="catch-up-observer")
    client.on_connect = on_connect
    client.on_subscribe = lambda *_: ready.set()
    client.on_message = on_message
    client.connect(broker.host, broker.port)
    client.loop_start()
    assert ready.wait(10)
    return client


@pytest.mark.parametrize("merge", [True, False], ids=["merged", "one-at-a-time"])
def test_a_fleet_far_behind_delivers_every_message_once_and_in_order(
    mosquitto: LocalBroker, merge: bool
) -> None:
    received: list[tuple[str, int]] = []
    client = subscribed(mosquitto, received)
    try:
        writes, published, overrun = asyncio.run(stalled_run(mosquitto, merge=merge))
        wait_until_sync(
            lambda: len(received) >= published, "every message to reach the observer", 20
        )
    finally:
        client.loop_stop()
        client.disconnect()

    assert published == DEVICES * MESSAGES
    assert len(received) == published
    by_device: dict[str, list[int]] = {}
    for device_id, seq in received:
        by_device.setdefault(device_id, []).append(seq)
    assert len(by_device) == DEVICES
    assert all(seqs == list(range(MESSAGES)) for seqs in by_device.values())
    assert overrun > 0  # the stall is counted, merged or not
    if merge:
        # The stall is longer than the merge limit: at least that many of each device's
        # messages went out in one write.
        assert writes <= DEVICES * (1 + MESSAGES - CATCH_UP_REPEATS)
    else:
        assert writes == published
