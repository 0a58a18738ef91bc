"""The fleet's publishing through its scheduler, on the fakes of ``fake_fleet``: a fake loop
whose clock moves by hand, so a test can put the fleet any distance behind.
"""

from __future__ import annotations

from typing import Any, cast

import pytest

from simulator.engine.fleet import Fleet, FleetOptions
from simulator.engine.publishing import CATCH_UP_REPEATS
from simulator.mqtt import NO_PROPERTIES, MQTTVersion, Properties, PubAck, encode
from simulator.payloads import get_codec
from simulator.payloads.codec import Telemetry
from simulator.payloads.sparkplug.slotted_node import decode_data
from simulator.scenario import validate_scenario
from tests.unit.engine.fake_fleet import (
    WALL_NS,
    FakeTransport,
    decoded,
    onboarded,
    publishes,
    run_until,
    transports,
)
from tests.unit.engine.fake_loop import FakeLoop

V5 = MQTTVersion.V5
JSON = get_codec("json")
INTERVAL_NS = 10_000_000


def onboarded_fleet(
    devices: int,
    *,
    qos: int = 0,
    per_connection: int = 1,
    payload: str = "json",
    receive_maximum: int | None = None,
    **options: Any,
) -> tuple[Fleet, FakeLoop]:
    """A fleet of ``devices`` machine sensors every 10 ms (two 5 ms slots), connected at 0."""
    scenario = validate_scenario(
        {
            "name": "publish",
            "duration_s": 1.0,
            "fleet": {
                "devices": devices,
                "publish_interval_s": 0.01,
                "payload": payload,
                "qos": qos,
                "devices_per_connection": per_connection,
            },
            "ingest": {"enabled": False},
        },
        "<test>",
    )
    connack = NO_PROPERTIES
    if receive_maximum is not None:
        connack = Properties(receive_maximum=receive_maximum)
    return onboarded(scenario, connack, options=FleetOptions(**options))


def telemetry(transport: FakeTransport) -> list[Telemetry]:
    return [JSON.decode(p.payload) for p in publishes(transport)]


def ack_all(fleet: Fleet) -> None:
    """The broker acknowledges every QoS 1 message sent so far."""
    for device in fleet.devices:
        link = device.link
        assert link is not None
        for publish in publishes(cast(FakeTransport, link.transport)):
            assert publish.packet_id is not None
            link.data_received(encode(PubAck(publish.packet_id), V5))


def finished(fleet: Fleet) -> bool:
    return fleet._finished.is_set()


def test_a_device_blocked_on_its_last_message_is_not_finished_until_it_sends_it() -> None:
    fleet, loop = onboarded_fleet(2, qos=1, receive_maximum=1, messages_per_device=2)
    run_until(fleet, loop, 0.009)  # each device's first message fills its one inflight place
    run_until(fleet, loop, 0.019)  # the second cannot go: not finished, though it was its last
    assert fleet.counters.inflight_blocked == 2
    assert not finished(fleet)
    ack_all(fleet)
    run_until(fleet, loop, 0.029)
    assert finished(fleet)
    assert fleet.published_by_device() == {d.device_id: 2 for d in fleet.devices}


def test_a_fleet_behind_sends_each_devices_overdue_messages_in_one_write() -> None:
    fleet, loop = onboarded_fleet(4, messages_per_device=10)
    run_until(fleet, loop, 0.0555)  # 5.5 intervals late: six firings of each device are due
    for transport in transports(fleet):
        assert len(transport.writes) == 1
        sent = telemetry(transport)
        assert [m.seq for m in sent] == list(range(6))
        # Each message keeps its own scheduled time: the lateness is still latency.
        first = sent[0].ts_ns
        assert first - WALL_NS in (0, 5_000_000)  # the device's slot
        assert [m.ts_ns - first for m in sent] == pytest.approx(
            [r * INTERVAL_NS for r in range(6)], abs=1
        )
    assert fleet.counters.published == 24
    # Every firing but the one at 55 ms (of the two devices in the second slot) is more
    # than a slot late: each is counted, merged or not.
    assert fleet.overrun == 2 * 6 + 2 * 5
    run_until(fleet, loop, 1.0)  # far behind again: the last four of each in one more write
    for transport in transports(fleet):
        assert len(transport.writes) == 2
        assert [m.seq for m in telemetry(transport)] == list(range(10))
    assert fleet.counters.published == 40
    # 95 firings of each device were due by 1 s, but its quota left it 4 sends: only those
    # (all late) are overrun.
    assert fleet.overrun == 22 + 4 * 4
    assert finished(fleet)


def test_a_backlog_longer_than_the_merge_limit_goes_out_in_writes_of_at_most_the_limit() -> None:
    fleet, loop = onboarded_fleet(2)
    run_until(fleet, loop, 0.2055)  # 21 firings of each device are due
    for transport in transports(fleet):
        sizes = [len(decoded(data)) for data in transport.writes]
        assert sizes == [CATCH_UP_REPEATS, CATCH_UP_REPEATS, 21 - 2 * CATCH_UP_REPEATS]
        assert [m.seq for m in telemetry(transport)] == list(range(21))


def test_a_gateway_behind_sends_its_devices_overdue_messages_in_one_write() -> None:
    fleet, loop = onboarded_fleet(6, per_connection=3, messages_per_device=10)
    run_until(fleet, loop, 0.0555)
    gateways = transports(fleet)
    assert len(gateways) == 2
    for transport in gateways:
        assert len(transport.publish_writes()) == 1
        sent = telemetry(transport)
        assert len(sent) == 3 * 6
        for device_id in {m.device_id for m in sent}:
            assert [m.seq for m in sent if m.device_id == device_id] == list(range(6))


def test_the_inflight_limit_holds_back_the_rest_of_a_backlog_until_acks_come() -> None:
    fleet, loop = onboarded_fleet(1, qos=1, receive_maximum=4, messages_per_device=6)
    (transport,) = transports(fleet)
    run_until(fleet, loop, 0.0555)  # all six are due; four fit
    assert [m.seq for m in telemetry(transport)] == [0, 1, 2, 3]
    assert len(transport.writes) == 1
    assert fleet.counters.inflight_blocked == 1  # one attempt was refused, then it stopped
    assert fleet.counters.published == 4
    assert not finished(fleet)
    ack_all(fleet)
    run_until(fleet, loop, 0.2)  # the last two, from a later firing, still in sequence
    assert [m.seq for m in telemetry(transport)] == list(range(6))
    assert len(transport.writes) == 2
    assert fleet.counters.published == 6
    assert finished(fleet)


def test_a_sparkplug_edge_node_numbers_merged_messages_in_the_order_they_are_sent() -> None:
    fleet, loop = onboarded_fleet(3, per_connection=3, payload="sparkplug", messages_per_device=10)
    (transport,) = transports(fleet)
    run_until(fleet, loop, 0.0555)
    data = [p.payload for p in publishes(transport) if "/DDATA/" in p.topic]
    assert len(data) == 3 * 6
    node_seqs = [payload[-1] for payload in data]  # the edge node's seq ends each payload
    assert node_seqs == [(node_seqs[0] + k) % 256 for k in range(len(data))]
    by_device: dict[str, list[int]] = {}
    for payload in data:
        message = decode_data(payload)
        by_device.setdefault(message.device_id, []).append(message.seq)
    assert list(by_device.values()) == [list(range(6))] * 3


def test_without_merging_the_same_messages_go_out_one_write_each() -> None:
    sent: dict[bool, list[list[Telemetry]]] = {}
    for merge in (True, False):
        fleet, loop = onboarded_fleet(4, messages_per_device=10, merge_overdue=merge)
        for now in (0.0555, 0.07, 1.0):
            run_until(fleet, loop, now)
        sent[merge] = [telemetry(transport) for transport in transports(fleet)]
        writes = sum(len(transport.writes) for transport in transports(fleet))
        assert writes == (4 * 3 if merge else 40)
        # The same late sends, merged or not: 22 at 55.5 ms as above; at 70 ms the firings
        # at 60 and 65 ms; at 1 s the last 2 or 3 of each device. The hundreds of firings
        # due by 1 s that come after a device's quota are no sends and not counted.
        assert fleet.overrun == 22 + 4 + 2 * 2 + 2 * 3
    for merged, single in zip(sent[True], sent[False], strict=True):
        assert [(m.device_id, m.seq) for m in merged] == [(m.device_id, m.seq) for m in single]
        # Within a nanosecond: int() of a float sum can land either side of a boundary.
        assert [m.ts_ns for m in merged] == pytest.approx([m.ts_ns for m in single], abs=1)
        for one, other in zip(merged, single, strict=True):
            assert one.values == pytest.approx(other.values)  # model time: the same due
