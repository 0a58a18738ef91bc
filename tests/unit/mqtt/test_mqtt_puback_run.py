"""The QoS 1 hot path: short PUBACKs read in place, and QoS 1 publishing from a prefix.

Whatever the short cut takes, the answer must be the general path's: the same events in the
same order, the same ids freed, the same errors for an unknown id, id 0, a QoS 2 id, a
3.1.1 PUBACK with a reason code, or a PUBACK larger than our maximum packet size.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.errors import LocalProtocolError, RemoteProtocolError
from simulator.mqtt import (
    ClientSession,
    ConnAck,
    ConnectOptions,
    MQTTVersion,
    PingResp,
    PongReceived,
    Properties,
    PubAck,
    PubAckReceived,
    Publish,
    SessionState,
    decode,
    encode,
)
from simulator.mqtt.session import MAX_PACKET_ID
from tests.unit.mqtt.sessions import connected
from tests.unit.mqtt.versions import V5, V311, VERSIONS


def publish_qos1(session: ClientSession, count: int) -> list[bytes]:
    prefix = session.topic_prefix("plant/line-1/dev-1/telemetry")
    return [session.publish_prefixed(prefix, b"m%d" % n, 1) for n in range(count)]


def short(packet_id: int, reason: int | None = None) -> bytes:
    """A PUBACK as Mosquitto writes it: ``40 02 id id``, or ``40 03 id id rc`` (5.0)."""
    ident = packet_id.to_bytes(2, "big")
    return b"\x40\x02" + ident if reason is None else b"\x40\x03" + ident + bytes((reason,))


@pytest.mark.parametrize("version", VERSIONS)
def test_a_run_of_short_pubacks_frees_every_id_in_order(version: MQTTVersion) -> None:
    session = connected(version)
    publish_qos1(session, 5)
    events = session.receive_data(b"".join(short(i) for i in (3, 1, 5, 2, 4)))
    assert events == [PubAckReceived(i, 0) for i in (3, 1, 5, 2, 4)]
    assert session.inflight_count == 0
    assert session.data_to_send() == b""


def test_reason_codes_in_a_run_are_kept_refusals_included() -> None:
    session = connected()
    publish_qos1(session, 5)
    data = short(1) + short(2, 0x10) + short(3, 0x87) + short(4) + short(5, 0x00)
    assert session.receive_data(data) == [
        PubAckReceived(1, 0),
        PubAckReceived(2, 0x10),  # no matching subscribers: delivered to nobody, but accepted
        PubAckReceived(3, 0x87),  # not authorized: the broker refused it
        PubAckReceived(4, 0),
        PubAckReceived(5, 0),
    ]
    assert session.inflight_count == 0


def test_a_puback_with_properties_amid_a_run_keeps_its_reason_string() -> None:
    session = connected()
    publish_qos1(session, 3)
    refused = encode(PubAck(2, 0x97, Properties(reason_string="quota")), V5)
    events = session.receive_data(short(1) + refused + short(3))
    assert events == [PubAckReceived(1, 0), PubAckReceived(2, 0x97, "quota"), PubAckReceived(3, 0)]


def test_other_packets_between_pubacks_keep_their_place() -> None:
    session = connected()
    publish_qos1(session, 2)
    message = encode(Publish("cmd", b"go", qos=1, packet_id=9), V5)
    events = session.receive_data(short(1) + encode(PingResp(), V5) + message + short(2))
    assert events[0] == PubAckReceived(1, 0)
    assert events[1] == PongReceived()
    assert events[3] == PubAckReceived(2, 0)
    assert session.data_to_send() == short(9)  # the broker's QoS 1 message answered


@pytest.mark.parametrize("version", VERSIONS)
def test_every_split_of_a_run_gives_the_same_events(version: MQTTVersion) -> None:
    reasons = (None, 0x10, 0x80) if version is V5 else (None, None, None)
    data = b"".join(short(i + 1, reasons[i % 3]) for i in range(6))
    expected = [PubAckReceived(i + 1, reasons[i % 3] or 0) for i in range(6)]
    for cut in range(len(data) + 1):
        session = connected(version)
        publish_qos1(session, 6)
        events = session.receive_data(data[:cut]) + session.receive_data(data[cut:])
        assert events == expected, cut
        assert session.inflight_count == 0


@pytest.mark.parametrize("version", VERSIONS)
def test_an_unknown_id_in_a_run_is_a_remote_error(version: MQTTVersion) -> None:
    session = connected(version)
    publish_qos1(session, 2)
    with pytest.raises(RemoteProtocolError, match="PUBACK for unknown packet id 7"):
        session.receive_data(short(1) + short(7) + short(2))
    assert session.state is SessionState.CLOSED


@pytest.mark.parametrize(
    ("version", "in_flight", "received", "error"),
    [
        pytest.param(V5, 1, short(1) + short(1), "PUBACK for unknown packet id 1", id="repeated"),
        pytest.param(V5, 0, short(1), "PUBACK for unknown packet id 1", id="nothing-in-flight"),
        pytest.param(V5, 1, short(1) + short(0), "packet id 0 is not allowed", id="id-zero"),
        pytest.param(V311, 2, short(1) + short(2, 0x10), "malformed PUBACK", id="311-reason"),
    ],
)
def test_a_run_with_a_puback_the_session_cannot_take_is_a_remote_error(
    version: MQTTVersion, in_flight: int, received: bytes, error: str
) -> None:
    session = connected(version)
    publish_qos1(session, in_flight)
    with pytest.raises(RemoteProtocolError, match=error):
        session.receive_data(received)


def test_a_puback_for_a_qos2_message_is_a_remote_error() -> None:
    session = connected()
    publish_qos1(session, 1)
    session.publish("t", b"", qos=2)  # id 2
    with pytest.raises(RemoteProtocolError, match="PUBACK for packet id 2, which is a QoS 2"):
        session.receive_data(short(1) + short(2))


def test_reserved_flags_on_a_puback_are_malformed() -> None:
    session = connected()
    publish_qos1(session, 1)
    with pytest.raises(RemoteProtocolError, match="reserved fixed header flags"):
        session.receive_data(b"\x41\x02\x00\x01")


@given(
    data=st.data(),
    version=st.sampled_from(VERSIONS),
    count=st.integers(1, 12),
)
def test_any_run_matches_decoding_packet_by_packet(
    data: st.DataObject, version: MQTTVersion, count: int
) -> None:
    session = connected(version)
    publish_qos1(session, count)
    order = data.draw(st.permutations(range(1, count + 1)))
    codes = [0] if version is V311 else [0, 0x10, 0x80, 0x87, 0x97]
    acks = [
        PubAck(
            packet_id,
            data.draw(st.sampled_from(codes)),
            data.draw(st.sampled_from([Properties(), Properties(reason_string="why")]))
            if version is V5
            else Properties(),
        )
        for packet_id in order
    ]
    wire = b"".join(encode(ack, version) for ack in acks)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=3)))
    events = []
    for start, end in zip([0, *cuts], [*cuts, len(wire)], strict=True):
        events += session.receive_data(wire[start:end])
    assert events == [
        PubAckReceived(ack.packet_id, ack.reason_code, ack.properties.reason_string) for ack in acks
    ]
    assert session.inflight_count == 0


@pytest.mark.parametrize("version", VERSIONS)
def test_qos1_from_a_prefix_is_the_general_encoding(version: MQTTVersion) -> None:
    session = connected(version)
    prefix = session.topic_prefix("a/b")
    for packet_id in (1, 2):
        wire = session.publish_prefixed(prefix, b"x" * 200, 1)
        assert wire == encode(Publish("a/b", b"x" * 200, qos=1, packet_id=packet_id), version)


def test_qos1_from_a_prefix_resends_with_dup_after_a_reconnect() -> None:
    session = connected(options=ConnectOptions(session_expiry_interval=60))
    sent = publish_qos1(session, 3)
    session.receive_data(short(2))
    session.connection_lost()
    session.connect()
    session.receive_data(encode(ConnAck(session_present=True), V5))
    again = session.data_to_send()
    assert again == b"".join(bytes((sent[i][0] | 0x08,)) + sent[i][1:] for i in (0, 2))
    first = decode(again, V5)
    assert first is not None
    assert first[0] == Publish("plant/line-1/dev-1/telemetry", b"m0", qos=1, dup=True, packet_id=1)


def test_qos1_from_a_prefix_skips_ids_in_use_and_wraps() -> None:
    session = connected()
    prefix = session.topic_prefix("t")
    session.publish_prefixed(prefix, b"", 1)  # id 1 stays in flight
    session.subscribe([("cmd", 1)])  # id 2, until its SUBACK
    for expected in range(3, MAX_PACKET_ID + 1):
        wire = session.publish_prefixed(prefix, b"", 1)
        assert wire[-3:-1] == expected.to_bytes(2, "big")
        assert session.receive_data(short(expected)) == [PubAckReceived(expected, 0)]
    wrapped = decode(session.publish_prefixed(prefix, b"", 1), V5)
    assert wrapped is not None
    assert wrapped[0] == Publish("t", b"", qos=1, packet_id=3)


def test_no_free_packet_id_is_a_local_error() -> None:
    session = connected()
    prefix = session.topic_prefix("t")
    for _ in range(MAX_PACKET_ID):
        session.publish_prefixed(prefix, b"", 1)
    with pytest.raises(LocalProtocolError, match="no free packet id"):
        session.subscribe([("cmd", 1)])


def test_qos1_from_a_prefix_stays_within_the_receive_maximum() -> None:
    session = connected(connack=ConnAck(properties=Properties(receive_maximum=2)))
    publish_qos1(session, 2)
    with pytest.raises(LocalProtocolError, match="receive maximum"):
        publish_qos1(session, 1)
    session.receive_data(short(1, 0x10))
    assert publish_qos1(session, 1)[0][-5:-3] == (3).to_bytes(2, "big")


def test_qos1_from_a_prefix_respects_the_broker_maximum_qos() -> None:
    session = connected(connack=ConnAck(properties=Properties(maximum_qos=0)))
    with pytest.raises(LocalProtocolError, match="maximum QoS of 0"):
        publish_qos1(session, 1)
    assert session.inflight_count == 0


def test_qos1_from_a_prefix_refuses_a_packet_over_the_broker_maximum() -> None:
    session = connected(connack=ConnAck(properties=Properties(maximum_packet_size=64)))
    with pytest.raises(
        LocalProtocolError,
        match=r"PUBLISH 1 of \d+ bytes exceeds the broker's maximum packet size of 64",
    ):
        session.publish_prefixed(session.topic_prefix("t"), bytes(100), 1)
    assert session.inflight_count == 0
