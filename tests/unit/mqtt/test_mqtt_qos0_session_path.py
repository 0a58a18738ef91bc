"""QoS 0 through the session's fast path: topic aliases and the broker's CONNACK limits.

Every message the fleet sends is framed by :meth:`ClientSession.publish_prefixed`, QoS 0
included, so the aliases and limits a broker states in its CONNACK apply to all of them.
"""

from __future__ import annotations

import mqtt5
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.errors import LocalProtocolError, PacketTooLargeError
from simulator.mqtt import (
    ClientSession,
    ConnAck,
    ConnectOptions,
    MQTTVersion,
    Properties,
    Publish,
    decode,
    encode,
)
from tests.unit.mqtt import sessions
from tests.unit.mqtt.versions import V5, V311

ALIASING = ConnectOptions(topic_aliases=True)
TOPIC = "factory/site-01/line-03/cell-07/ms-000042/telemetry"
# Payloads around the one-, two- and three-byte remaining length boundaries, with TOPIC's
# prefix (3.1.1: 53 bytes, 5.0: 54) and with the aliased form in its place (6 bytes).
BOUNDARIES = [0, 73, 74, 75, 121, 122, 16_329, 16_330, 16_331, 16_377, 16_378, 20_000]
SIZES = st.sampled_from(BOUNDARIES) | st.integers(0, 300)


def connected(
    version: MQTTVersion = V5, options: ConnectOptions | None = None, **connack: int
) -> ClientSession:
    """A session past a CONNACK whose properties are ``connack``."""
    props = Properties(**connack) if version is V5 else Properties()  # type: ignore[arg-type]
    return sessions.connected(version, options, ConnAck(properties=props))


def decoded(wire: bytes, version: MQTTVersion = V5) -> Publish:
    result = decode(wire, version)
    assert result is not None
    packet, size = result
    assert size == len(wire)
    assert isinstance(packet, Publish)
    return packet


@pytest.mark.parametrize("version", [V311, V5])
@given(size=SIZES)
def test_without_aliases_it_writes_what_the_general_encoder_writes(
    version: MQTTVersion, size: int
) -> None:
    session = connected(version)
    payload = bytes(size)
    wire = session.publish_prefixed(session.topic_prefix(TOPIC), payload)
    assert wire == encode(Publish(TOPIC, payload), version)


@given(sizes=st.lists(SIZES, min_size=2, max_size=4))
def test_an_alias_goes_with_the_topic_once_then_stands_for_it(sizes: list[int]) -> None:
    session = connected(options=ALIASING, topic_alias_maximum=10)
    prefix = session.topic_prefix(TOPIC)
    for index, size in enumerate(sizes):
        payload = bytes(size)
        wire = session.publish_prefixed(prefix, payload)
        topic = TOPIC if index == 0 else ""
        assert wire == encode(Publish(topic, payload, properties=Properties(topic_alias=1)), V5)


def test_the_aliased_form_is_an_empty_topic_and_a_three_byte_property_block() -> None:
    session = connected(options=ALIASING, topic_alias_maximum=10)
    prefix = session.topic_prefix(TOPIC)
    session.publish_prefixed(prefix, b"first")
    assert session.publish_prefixed(prefix, b"hi") == b"\x30\x08\x00\x00\x03\x23\x00\x01hi"
    # The independent codec reads it the same way.
    packet, _ = mqtt5.read(memoryview(session.publish_prefixed(prefix, b"again")))
    assert isinstance(packet, mqtt5.PublishPacket)
    assert (packet.topic, packet.topic_alias, packet.payload) == ("", 1, b"again")


def test_the_brokers_topic_alias_maximum_bounds_the_aliases() -> None:
    # A gateway publishes more topics than the broker allows aliases for (Mosquitto's
    # max_topic_alias defaults to 10): the first ones get aliases, the rest go in full.
    session = connected(options=ALIASING, topic_alias_maximum=3)
    prefixes = [session.topic_prefix(f"gw/dev-{n}/telemetry") for n in range(5)]
    for _ in range(3):
        sent = [decoded(session.publish_prefixed(prefix, b"v")) for prefix in prefixes]
        aliases = [p.properties.topic_alias for p in sent]
        assert aliases == [1, 2, 3, None, None]
        assert [p.topic for p in sent[3:]] == ["gw/dev-3/telemetry", "gw/dev-4/telemetry"]
    assert {p.topic for p in sent[:3]} == {""}


def test_no_alias_unless_the_scenario_asks_and_the_broker_allows() -> None:
    plain = connected(topic_alias_maximum=10)  # the broker allows, the scenario did not ask
    unoffered = connected(options=ALIASING)  # asked for, but the broker's CONNACK offers none
    old = connected(V311, options=ConnectOptions())  # 3.1.1 has no aliases
    for session, version in ((plain, V5), (unoffered, V5), (old, V311)):
        prefix = session.topic_prefix(TOPIC)
        for _ in range(2):
            wire = session.publish_prefixed(prefix, b"v")
            assert wire == encode(Publish(TOPIC, b"v"), version)


def test_aliases_start_again_on_every_connection() -> None:
    session = connected(options=ALIASING, topic_alias_maximum=10)
    prefix = session.topic_prefix(TOPIC)
    session.publish_prefixed(prefix, b"1")
    assert decoded(session.publish_prefixed(prefix, b"2")).topic == ""
    session.connection_lost()
    session.connect()
    session.receive_data(encode(ConnAck(properties=Properties(topic_alias_maximum=10)), V5))
    again = decoded(session.publish_prefixed(prefix, b"3"))
    assert (again.topic, again.properties.topic_alias) == (TOPIC, 1)


def test_the_brokers_maximum_packet_size_holds_at_qos_0() -> None:
    session = connected(maximum_packet_size=100)
    prefix = session.topic_prefix(TOPIC)
    fits = 100 - len(encode(Publish(TOPIC, b""), V5))
    assert len(session.publish_prefixed(prefix, bytes(fits))) == 100
    with pytest.raises(
        PacketTooLargeError,
        match="PUBLISH of 101 bytes exceeds the broker's maximum packet size of 100",
    ):
        session.publish_prefixed(prefix, bytes(fits + 1))
    # QoS 1 is held to the same limit, and its refused message takes no place in flight.
    with pytest.raises(PacketTooLargeError, match="PUBLISH 1 of 103 bytes"):
        session.publish_prefixed(prefix, bytes(fits + 1), 1)
    assert session.inflight_count == 0


def test_a_refused_first_message_assigns_no_alias_and_the_alias_form_is_what_is_measured() -> None:
    session = connected(options=ALIASING, topic_alias_maximum=10, maximum_packet_size=100)
    prefix = session.topic_prefix(TOPIC)
    full = len(encode(Publish(TOPIC, b"", properties=Properties(topic_alias=1)), V5))
    with pytest.raises(PacketTooLargeError):
        session.publish_prefixed(prefix, bytes(100 - full + 1))
    # Nothing was sent, so the broker knows no alias: the next message still names the topic.
    first = decoded(session.publish_prefixed(prefix, b"small"))
    assert (first.topic, first.properties.topic_alias) == (TOPIC, 1)
    # Once the alias is known a payload too large beside the topic fits beside the alias.
    aliased = session.publish_prefixed(prefix, bytes(100 - 8))
    assert len(aliased) == 100
    assert decoded(aliased).topic == ""
    with pytest.raises(PacketTooLargeError, match="PUBLISH of 101 bytes"):
        session.publish_prefixed(prefix, bytes(100 - 8 + 1))


def test_a_closed_session_frames_nothing() -> None:
    session = connected()
    prefix = session.topic_prefix(TOPIC)
    session.connection_lost()
    with pytest.raises(LocalProtocolError, match="publish_prefixed\\(\\) on a closed session"):
        session.publish_prefixed(prefix, b"v")
