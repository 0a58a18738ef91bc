"""Every message the fleet publishes is framed by its connection's session, QoS 0 included.

So the broker's CONNACK limits and the scenario's topic aliases hold for the default QoS 0
telemetry: a device's first message on a connection names its topic and the alias, later
ones only the alias; a gateway's devices beyond the broker's Topic Alias Maximum keep their
topics; a message over the broker's Maximum Packet Size is counted and not sent. The fleet
is real, as in ``test_fleet_publish``; the broker's CONNACK is chosen per test.
"""

from __future__ import annotations

from typing import cast

from simulator.engine.fleet import Fleet, FleetOptions
from simulator.mqtt import Disconnect, MQTTVersion, Properties, encode
from simulator.scenario import validate_scenario
from tests.unit.engine.fake_fleet import FakeTransport, onboarded, publishes, run_until, transports
from tests.unit.engine.fake_loop import FakeLoop

V5 = MQTTVersion.V5
TOPIC = "plant/{device}/telemetry"


def fleet_against(
    connack: Properties,
    devices: int,
    *,
    topic_aliases: bool = True,
    per_connection: int = 1,
    messages: int = 4,
    qos: int = 0,
) -> tuple[Fleet, FakeLoop]:
    """A fleet of ``devices`` machine sensors every 10 ms, connected at 0 to that broker."""
    scenario = validate_scenario(
        {
            "name": "qos0-session",
            "duration_s": 1.0,
            "broker": {"topic_aliases": topic_aliases},
            "fleet": {
                "devices": devices,
                "publish_interval_s": 0.01,
                "payload": "json",
                "qos": qos,
                "topic": TOPIC,
                "devices_per_connection": per_connection,
            },
            "onboarding": {"reconnect": False},
            "ingest": {"enabled": False},
        },
        "<test>",
    )
    return onboarded(scenario, connack, options=FleetOptions(messages_per_device=messages))


def run_in_step(fleet: Fleet, loop: FakeLoop, until: float) -> None:
    """Publish on time, one slot after another (one firing per device at a time)."""
    now = 0.0
    while now < until:
        now += 0.005
        run_until(fleet, loop, now)


def topic_of(device_id: str) -> str:
    return TOPIC.replace("{device}", device_id)


def test_a_device_names_its_topic_once_then_sends_only_the_alias() -> None:
    fleet, loop = fleet_against(Properties(topic_alias_maximum=10), 3)
    run_in_step(fleet, loop, 0.04)
    assert fleet.counters.published == 12
    for device in fleet.devices:
        assert device.link is not None
        transport = cast(FakeTransport, device.link.transport)
        assert len(transport.writes) == 4  # on time: one write per message
        sent = publishes(transport)
        assert [p.topic for p in sent] == [topic_of(device.device_id), "", "", ""]
        assert {p.properties.topic_alias for p in sent} == {1}
        assert [p.qos for p in sent] == [0] * 4


def test_a_backlog_sent_in_one_write_is_aliased_too() -> None:
    fleet, loop = fleet_against(Properties(topic_alias_maximum=10), 2, messages=6)
    run_until(fleet, loop, 0.0555)  # behind: each device's six messages in one write
    for transport in transports(fleet):
        assert len(transport.writes) == 1
        sent = publishes(transport)
        assert [p.topic == "" for p in sent] == [False] + [True] * 5
        assert {p.properties.topic_alias for p in sent} == {1}


def test_a_gateway_aliases_as_many_devices_as_the_broker_allows() -> None:
    # Mosquitto's max_topic_alias is 10 by default: a gateway of 12 devices gets 10 aliases.
    fleet, loop = fleet_against(Properties(topic_alias_maximum=10), 12, per_connection=12)
    run_in_step(fleet, loop, 0.04)
    (transport,) = transports(fleet)
    sent = publishes(transport)
    assert len(sent) == 48
    aliased = {p.properties.topic_alias for p in sent if p.properties.topic_alias is not None}
    assert aliased == set(range(1, 11))
    by_alias: dict[int, list[str]] = {}
    full = [p.topic for p in sent if p.properties.topic_alias is None]
    for publish in sent:
        if publish.properties.topic_alias is not None:
            by_alias.setdefault(publish.properties.topic_alias, []).append(publish.topic)
    # Each alias: its topic once, then the empty topic; the last two devices always in full.
    assert all(topics[0] and topics[1:] == ["", "", ""] for topics in by_alias.values())
    assert sorted(set(full)) == sorted(topic_of(d.device_id) for d in fleet.devices[10:])
    assert len(full) == 2 * 4


def test_without_the_scenarios_consent_or_the_brokers_no_alias_is_used() -> None:
    for connack, aliases in ((Properties(topic_alias_maximum=10), False), (Properties(), True)):
        fleet, loop = fleet_against(connack, 2, topic_aliases=aliases)
        run_in_step(fleet, loop, 0.04)
        for transport in transports(fleet):
            sent = publishes(transport)
            assert len(sent) == 4
            assert all(p.topic and p.properties.topic_alias is None for p in sent)


def test_messages_over_the_brokers_maximum_packet_size_are_counted_not_sent() -> None:
    fleet, loop = fleet_against(Properties(maximum_packet_size=64), 2, topic_aliases=False)
    run_in_step(fleet, loop, 0.04)
    assert all(not transport.writes for transport in transports(fleet))
    assert fleet.counters.too_large == 8
    assert fleet.counters.published == 0
    # Each refused message is skipped, not retried: the devices went on and reached their
    # quota, and the scheduler kept running.
    assert [device.seq for device in fleet.devices] == [4, 4]
    assert fleet._finished.is_set()


def test_a_message_refused_for_its_size_assigns_no_alias() -> None:
    # A device's message is over the limit beside its topic, and would fit beside an alias.
    probe, loop = fleet_against(Properties(topic_alias_maximum=10), 1, messages=2)
    run_in_step(probe, loop, 0.02)
    (transport,) = transports(probe)
    first, second = (len(data) for data in transport.writes)
    limit = second + 4  # the JSON payloads differ by a few bytes from message to message
    assert first > limit
    fleet, loop = fleet_against(
        Properties(topic_alias_maximum=10, maximum_packet_size=limit), 1, messages=2
    )
    run_in_step(fleet, loop, 0.02)
    # The first message, which would have named the topic, is refused and assigns no alias;
    # so the second names the topic too, and is refused as well.
    assert fleet.counters.too_large == 2
    assert fleet.counters.published == 0


def test_a_session_the_broker_closed_sends_nothing_more() -> None:
    fleet, loop = fleet_against(Properties(), 2, topic_aliases=False)
    run_in_step(fleet, loop, 0.01)
    first = fleet.devices[0].link
    assert first is not None
    # The broker's DISCONNECT closes the session; the socket closes a moment later.
    first.data_received(encode(Disconnect(0x8B), V5))
    run_in_step(fleet, loop, 0.04)
    transport = cast(FakeTransport, first.transport)
    assert len(publishes(transport)) == 2  # the messages before the DISCONNECT only
    assert fleet.devices[1].seq == 4
    assert fleet.counters.published == 2 + 4
