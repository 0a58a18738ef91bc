"""The subscriber's hot path: runs of plain QoS 0 PUBLISH packets read in place.

Whatever the short cut takes, the answer must be the general decoder's: the same messages in
the same order however the bytes are split into reads, and the same refusals for a topic that
is not a topic name, a packet over our maximum packet size or a malformed length.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.errors import RemoteProtocolError
from simulator.mqtt import (
    ConnectOptions,
    MessageReceived,
    MessagesReceived,
    MQTTVersion,
    Properties,
    Publish,
    SessionState,
    encode,
)
from tests.unit.mqtt.sessions import connected
from tests.unit.mqtt.versions import V5, V311, VERSIONS

TOPICS = ["plant/line-1/ms-000001/telemetry", "p/ü/€", "a", "x" * 300]


@st.composite
def publishes(draw: st.DrawFn, version: MQTTVersion) -> Publish:
    """Mostly the plain QoS 0 messages the short cut takes, and every kind it must leave."""
    topic = draw(st.sampled_from(TOPICS))
    payload = draw(st.binary(max_size=400))
    kind = draw(st.sampled_from(["plain", "plain", "plain", "retained", "qos1", "properties"]))
    if kind == "retained":
        return Publish(topic, payload, retain=True)
    if kind == "qos1":
        return Publish(topic, payload, qos=1, packet_id=draw(st.integers(1, 0xFFFF)))
    if kind == "properties" and version is V5:
        return Publish(topic, payload, properties=Properties(content_type="application/x"))
    return Publish(topic, payload)


def stream_in_reads(data: st.DataObject, version: MQTTVersion) -> tuple[list[Publish], list[bytes]]:
    """Some messages, and their bytes split into reads at places hypothesis picks."""
    packets = data.draw(st.lists(publishes(version), min_size=1, max_size=30))
    stream = b"".join(encode(p, version) for p in packets)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    reads = [stream[start:end] for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    return packets, reads


@pytest.mark.parametrize("version", VERSIONS)
@given(data=st.data())
def test_any_run_split_anywhere_delivers_what_the_general_decoder_does(
    version: MQTTVersion, data: st.DataObject
) -> None:
    packets, reads = stream_in_reads(data, version)
    session = connected(version)
    events = []
    for read in reads:
        events += session.receive_data(read)
    assert events == [MessageReceived(p) for p in packets]


@pytest.mark.parametrize("version", VERSIONS)
@given(data=st.data())
def test_with_message_runs_each_run_is_one_event_and_the_rest_as_before(
    version: MQTTVersion, data: st.DataObject
) -> None:
    packets, reads = stream_in_reads(data, version)
    session = connected(version, ConnectOptions(message_runs=True))
    delivered: list[Publish] = []
    for read in reads:
        for event in session.receive_data(read):
            if isinstance(event, MessagesReceived):
                assert event.topics
                delivered += map(Publish, event.topics, event.payloads)
            else:
                assert isinstance(event, MessageReceived)
                assert event.publish.retain or event.publish.qos or event.publish.properties
                delivered.append(event.publish)
    assert delivered == packets


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("topic", ["plant/+/x", "plant/#", "a\x00b"])
def test_a_wildcard_or_nul_in_a_run_is_refused_even_after_good_messages(
    version: MQTTVersion, topic: str
) -> None:
    good = encode(Publish("plant/line-1/x", b"ok"), version)
    bad = bytearray(encode(Publish("plant/line-1/x", b"no"), version))
    name = topic.encode()
    # Same length as the good topic, so the frame stays valid and only the name is wrong.
    bad[4 : 4 + len(name)] = name.ljust(len("plant/line-1/x"), b"z")
    session = connected(version)
    with pytest.raises(RemoteProtocolError, match="wildcard"):
        session.receive_data(good + good + bytes(bad))
    assert session.state is SessionState.CLOSED


@pytest.mark.parametrize("version", VERSIONS)
def test_a_topic_that_is_not_utf8_is_refused(version: MQTTVersion) -> None:
    packet = bytearray(encode(Publish("plant/ab", b"x"), version))
    packet[10] = 0xFF
    session = connected(version)
    with pytest.raises(RemoteProtocolError, match="UTF-8"):
        session.receive_data(encode(Publish("plant/ab", b"x"), version) + bytes(packet))


def test_a_packet_over_our_maximum_packet_size_ends_the_run() -> None:
    session = connected(V5, ConnectOptions(maximum_packet_size=64))
    small = encode(Publish("t", b"x" * 10), V5)
    large = encode(Publish("t", b"x" * 100), V5)
    with pytest.raises(RemoteProtocolError, match="maximum packet size"):
        session.receive_data(small + large)


def test_a_length_that_is_not_minimally_encoded_is_refused() -> None:
    # 0x80 0x00: zero in two bytes.
    session = connected(V311)
    with pytest.raises(RemoteProtocolError, match="minimally"):
        session.receive_data(encode(Publish("t", b"x"), V311) + b"\x30\x80\x00")
