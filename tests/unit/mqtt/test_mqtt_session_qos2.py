"""QoS 2 both ways, the shared inflight window, and sessions kept across reconnects."""

from __future__ import annotations

import pytest

from simulator.errors import InflightLimitError, LocalProtocolError, RemoteProtocolError
from simulator.mqtt import (
    ClientSession,
    ConnAck,
    Connected,
    ConnectOptions,
    MessageReceived,
    MQTTVersion,
    Packet,
    Properties,
    PubAck,
    PubAckReceived,
    PubComp,
    PubCompReceived,
    Publish,
    PubRec,
    PubRecReceived,
    PubRel,
    SessionState,
    decode,
    encode,
)
from simulator.mqtt.codec import Decoder
from tests.unit.mqtt.sessions import connected
from tests.unit.mqtt.versions import V5, V311, VERSIONS


def packets(data: bytes, version: MQTTVersion) -> list[Packet]:
    decoder = Decoder(version)
    decoder.feed(data)
    found = list(decoder)
    assert decoder.buffered == 0
    return found


@pytest.mark.parametrize("version", VERSIONS)
def test_outbound_qos2_runs_publish_pubrec_pubrel_pubcomp(version: MQTTVersion) -> None:
    session = connected(version)
    wire = session.publish("t", b"x", qos=2)
    assert packets(wire, version) == [Publish("t", b"x", qos=2, packet_id=1)]
    assert session.inflight_count == 1
    assert session.receive_data(encode(PubRec(1), version)) == [PubRecReceived(1, 0)]
    assert packets(session.data_to_send(), version) == [PubRel(1)]
    assert session.inflight_count == 1  # the id stays taken until PUBCOMP
    assert session.receive_data(encode(PubComp(1), version)) == [PubCompReceived(1, 0)]
    assert session.inflight_count == 0
    assert session.data_to_send() == b""


def test_a_failed_pubrec_ends_the_exchange_without_pubrel() -> None:
    session = connected()
    session.publish("t", b"x", qos=2)
    reply = PubRec(1, 0x87, Properties(reason_string="acl"))
    assert session.receive_data(encode(reply, V5)) == [PubRecReceived(1, 0x87, "acl")]
    assert session.data_to_send() == b""
    assert session.inflight_count == 0


def test_a_repeated_pubrec_gets_the_pubrel_again_without_an_event() -> None:
    session = connected()
    session.publish("t", b"x", qos=2)
    session.receive_data(encode(PubRec(1), V5))
    first = session.data_to_send()
    assert session.receive_data(encode(PubRec(1), V5)) == []
    assert session.data_to_send() == first


@pytest.mark.parametrize(
    ("sent_qos", "reply", "message"),
    [
        (2, PubAck(1), "PUBACK for packet id 1, which is a QoS 2 PUBLISH awaiting PUBREC"),
        (1, PubRec(1), "PUBREC for packet id 1, which is a QoS 1 PUBLISH awaiting PUBACK"),
        (1, PubComp(1), "PUBCOMP for packet id 1, which is a QoS 1 PUBLISH awaiting PUBACK"),
        (2, PubComp(1), "PUBCOMP for packet id 1, which is a QoS 2 PUBLISH awaiting PUBREC"),
        (2, PubAck(9), "PUBACK for unknown packet id 9"),
        (2, PubRec(9), "PUBREC for unknown packet id 9"),
        (2, PubComp(9), "PUBCOMP for unknown packet id 9"),
    ],
)
def test_acks_that_do_not_fit_the_flow_are_remote_errors(
    sent_qos: int, reply: Packet, message: str
) -> None:
    session = connected()
    session.publish("t", b"x", qos=sent_qos)
    with pytest.raises(RemoteProtocolError, match=f"client 'dev-1': {message}"):
        session.receive_data(encode(reply, V5))
    assert session.state is SessionState.CLOSED


def test_pubcomps_out_of_order_complete_the_right_messages() -> None:
    session = connected()
    for _ in range(3):
        session.publish("t", b"x", qos=2)
    session.receive_data(b"".join(encode(PubRec(i), V5) for i in (1, 2, 3)))
    session.data_to_send()
    events = session.receive_data(encode(PubComp(3), V5) + encode(PubComp(1), V5))
    assert events == [PubCompReceived(3, 0), PubCompReceived(1, 0)]
    assert session.inflight_count == 1
    with pytest.raises(RemoteProtocolError, match="PUBCOMP for unknown packet id 3"):
        session.receive_data(encode(PubComp(3), V5))


def test_the_receive_maximum_counts_qos1_and_qos2_until_complete() -> None:
    session = connected(connack=ConnAck(properties=Properties(receive_maximum=2)))
    session.publish("t", b"", qos=1)
    session.publish_prefixed(session.topic_prefix("t"), b"", qos=2)
    with pytest.raises(InflightLimitError, match="client 'dev-1' has 2 QoS 1 and 2 messages"):
        session.publish("t", b"", qos=2)
    session.receive_data(encode(PubRec(2), V5))  # PUBREL phase still counts
    with pytest.raises(InflightLimitError):
        session.publish("t", b"", qos=1)
    session.receive_data(encode(PubComp(2), V5))
    session.publish("t", b"", qos=1)
    assert session.inflight_count == 2


@pytest.mark.parametrize("version", VERSIONS)
def test_inbound_qos2_is_delivered_once_on_publish(version: MQTTVersion) -> None:
    session = connected(version)
    message = Publish("t", b"x", qos=2, packet_id=7)
    assert session.receive_data(encode(message, version)) == [MessageReceived(message)]
    assert packets(session.data_to_send(), version) == [PubRec(7)]
    # The broker did not see our PUBREC and sends the message again: acknowledged, not
    # delivered again.
    again = Publish("t", b"x", qos=2, dup=True, packet_id=7)
    assert session.receive_data(encode(again, version)) == []
    assert packets(session.data_to_send(), version) == [PubRec(7)]
    assert session.receive_data(encode(PubRel(7), version)) == []
    assert packets(session.data_to_send(), version) == [PubComp(7)]
    # After PUBREL the id is free: the same id is a new message.
    assert session.receive_data(encode(message, version)) == [MessageReceived(message)]


@pytest.mark.parametrize(("version", "reply"), [(V311, PubComp(5)), (V5, PubComp(5, 0x92))])
def test_a_pubrel_for_nothing_is_answered(version: MQTTVersion, reply: PubComp) -> None:
    session = connected(version)
    assert session.receive_data(encode(PubRel(5), version)) == []
    assert packets(session.data_to_send(), version) == [reply]
    assert session.state is SessionState.CONNECTED


def test_more_inbound_qos2_than_our_receive_maximum_is_a_remote_error() -> None:
    session = connected(options=ConnectOptions(receive_maximum=1))
    session.receive_data(encode(Publish("t", b"", qos=2, packet_id=1), V5))
    with pytest.raises(RemoteProtocolError, match="PUBLISH 2: more than 1 QoS 2 messages"):
        session.receive_data(encode(Publish("t", b"", qos=2, packet_id=2), V5))


def test_maximum_qos_from_connack_refuses_higher_publishes() -> None:
    session = connected(connack=ConnAck(properties=Properties(maximum_qos=1)))
    session.publish("t", b"", qos=1)
    with pytest.raises(LocalProtocolError, match="QoS 2 exceeds the broker's maximum QoS of 1"):
        session.publish_prefixed(session.topic_prefix("t"), b"", qos=2)


# Sessions kept across reconnects

KEPT = ConnectOptions(session_expiry_interval=3600)


def test_a_kept_session_resends_in_order_with_dup_after_reconnect() -> None:
    session = connected(options=KEPT)
    session.publish("a", b"1", qos=1)
    session.publish("b", b"2", qos=2)
    session.publish("c", b"3", qos=2)
    session.receive_data(encode(PubRec(2), V5))
    session.data_to_send()
    session.connection_lost()
    assert session.inflight_count == 3
    wire = session.connect()
    connect = decode(wire, V5)
    assert connect is not None
    assert connect[0].clean_start is False  # type: ignore[union-attr]
    events = session.receive_data(encode(ConnAck(session_present=True), V5))
    assert events == [Connected(True, Properties(), (), 3)]
    assert packets(session.data_to_send(), V5) == [
        Publish("a", b"1", qos=1, dup=True, packet_id=1),
        PubRel(2),  # keeps its PUBLISH's place in the order
        Publish("c", b"3", qos=2, dup=True, packet_id=3),
    ]
    assert session.receive_data(encode(PubAck(1), V5)) == [PubAckReceived(1, 0)]


def test_a_kept_session_the_broker_lost_is_dropped_and_said() -> None:
    session = connected(options=KEPT)
    session.publish("a", b"1", qos=1)
    session.publish("b", b"2", qos=2)
    session.connection_lost()
    session.connect()
    events = session.receive_data(encode(ConnAck(session_present=False), V5))
    assert events == [Connected(False, Properties(), (1, 2), 0)]
    assert session.inflight_count == 0
    assert session.data_to_send() == b""


def test_inbound_qos2_ids_survive_a_reconnect_of_a_kept_session() -> None:
    session = connected(V311, ConnectOptions(clean_start=False))
    message = Publish("t", b"x", qos=2, packet_id=4)
    session.receive_data(encode(message, V311))
    session.connection_lost()
    session.connect()
    session.receive_data(encode(ConnAck(session_present=True), V311))
    again = Publish("t", b"x", qos=2, dup=True, packet_id=4)
    assert session.receive_data(encode(again, V311)) == []  # not delivered twice


def test_a_clean_session_forgets_everything_on_close() -> None:
    session = connected()
    session.publish("a", b"1", qos=2)
    session.connection_lost()
    assert session.inflight_count == 0
    session.connect()
    assert session.receive_data(encode(ConnAck(), V5)) == [Connected(False, Properties())]


def test_the_broker_can_shorten_the_session_to_the_connection() -> None:
    session = connected(
        options=KEPT, connack=ConnAck(properties=Properties(session_expiry_interval=0))
    )
    assert not session.persistent
    session.publish("a", b"1", qos=1)
    session.connection_lost()
    assert session.inflight_count == 0


def test_session_present_after_a_clean_start_is_a_remote_error() -> None:
    session = ClientSession("dev-1", V5, 60)
    session.connect()
    with pytest.raises(RemoteProtocolError, match="session is present after a clean start"):
        session.receive_data(encode(ConnAck(session_present=True), V5))
