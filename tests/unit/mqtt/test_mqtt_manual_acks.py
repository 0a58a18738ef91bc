"""Incoming QoS 1 acknowledged by the application (``manual_acks``): in arrival order, per
connection, within our Receive Maximum."""

from __future__ import annotations

import pytest

from simulator.errors import LocalProtocolError
from simulator.mqtt import (
    ClientSession,
    ConnAck,
    Connect,
    ConnectOptions,
    MessageReceived,
    MQTTVersion,
    PubAck,
    Publish,
    PubRec,
    SessionState,
    decode,
    encode,
)
from simulator.mqtt.events import Event
from tests.unit.mqtt import sessions
from tests.unit.mqtt.versions import V5, V311, VERSIONS

KEPT = {
    V311: ConnectOptions(clean_start=False, manual_acks=True),
    V5: ConnectOptions(clean_start=False, session_expiry_interval=300, manual_acks=True),
}


def connected(
    version: MQTTVersion, options: ConnectOptions | None = None, *, present: bool = False
) -> ClientSession:
    """A kept session that asks for manual acks, past a CONNACK (``present``: the broker had
    the session)."""
    return sessions.connected(version, options or KEPT[version], ConnAck(session_present=present))


def qos1(*ids: int, version: MQTTVersion, dup: bool = False) -> bytes:
    return b"".join(
        encode(Publish(f"t/{i}", b"%d" % i, qos=1, dup=dup, packet_id=i), version) for i in ids
    )


def pubacks(*ids: int, version: MQTTVersion) -> bytes:
    return b"".join(encode(PubAck(i), version) for i in ids)


def topics(events: list[Event]) -> list[str]:
    return [e.publish.topic for e in events if isinstance(e, MessageReceived)]


@pytest.mark.parametrize("version", VERSIONS)
def test_nothing_is_acknowledged_until_the_application_says_so(version: MQTTVersion) -> None:
    session = connected(version)
    events = session.receive_data(qos1(7, 3, 9, version=version))
    assert topics(events) == ["t/7", "t/3", "t/9"]
    assert session.data_to_send() == b""
    assert session.unacknowledged == 3


@pytest.mark.parametrize("version", VERSIONS)
def test_pubacks_go_out_oldest_first_across_reads(version: MQTTVersion) -> None:
    session = connected(version)
    session.receive_data(qos1(7, 3, version=version))
    session.receive_data(qos1(9, 1, 12, version=version))
    assert session.acknowledge(2) == pubacks(7, 3, version=version)
    assert session.unacknowledged == 3
    assert session.acknowledge(1) == pubacks(9, version=version)
    assert session.acknowledge(0) == b""
    assert session.acknowledge(2) == pubacks(1, 12, version=version)
    assert session.unacknowledged == 0
    assert session.data_to_send() == b""


@pytest.mark.parametrize("version", VERSIONS)
def test_a_puback_is_the_packet_an_encoder_writes(version: MQTTVersion) -> None:
    session = connected(version)
    ids = (1, 0xFF, 0x100, 0x7FFF, 0xFFFF)
    session.receive_data(qos1(*ids, version=version))
    wire = session.acknowledge(len(ids))
    read = []
    while wire:
        result = decode(wire, version)
        assert result is not None
        packet, used = result
        read.append(packet)
        wire = wire[used:]
    assert read == [PubAck(i) for i in ids]


@pytest.mark.parametrize("version", VERSIONS)
def test_qos0_and_qos2_are_untouched(version: MQTTVersion) -> None:
    session = connected(version)
    data = (
        encode(Publish("a", b"0"), version)
        + qos1(4, version=version)
        + encode(Publish("b", b"2", qos=2, packet_id=5), version)
    )
    assert topics(session.receive_data(data)) == ["a", "t/4", "b"]
    assert session.data_to_send() == encode(PubRec(5), version)  # QoS 2 at once, as always
    assert session.acknowledge(1) == pubacks(4, version=version)


@pytest.mark.parametrize("version", VERSIONS)
def test_without_the_option_a_puback_goes_at_once(version: MQTTVersion) -> None:
    session = connected(version, ConnectOptions())
    session.receive_data(qos1(4, version=version))
    assert session.data_to_send() == pubacks(4, version=version)
    assert session.unacknowledged == 0
    with pytest.raises(LocalProtocolError, match="cannot acknowledge 1 messages, 0 are"):
        session.acknowledge(1)


@pytest.mark.parametrize("version", VERSIONS)
def test_acknowledging_more_than_was_received_is_a_local_error(version: MQTTVersion) -> None:
    session = connected(version)
    with pytest.raises(LocalProtocolError, match="cannot acknowledge 1 messages, 0 are"):
        session.acknowledge(1)
    session.receive_data(qos1(4, 5, version=version))
    with pytest.raises(LocalProtocolError, match="cannot acknowledge 3 messages, 2 are"):
        session.acknowledge(3)
    assert session.acknowledge(2) == pubacks(4, 5, version=version)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_lost_connection_forgets_what_it_held_and_the_broker_sends_it_again(
    version: MQTTVersion,
) -> None:
    session = connected(version)
    session.receive_data(qos1(4, 5, 6, version=version))
    assert session.acknowledge(1) == pubacks(4, version=version)
    session.connection_lost()
    # Between connections: nothing to acknowledge, and no error for trying.
    assert session.acknowledge(2) == b""
    session.connect()
    session.receive_data(encode(ConnAck(session_present=True), version))
    assert session.unacknowledged == 0
    # The broker resends 5 and 6 (DUP), then a new message with a reused id.
    events = session.receive_data(qos1(5, 6, version=version, dup=True) + qos1(4, version=version))
    assert [e.publish.dup for e in events if isinstance(e, MessageReceived)] == [True, True, False]
    assert session.unacknowledged == 3
    assert session.acknowledge(3) == pubacks(5, 6, 4, version=version)


def test_a_disconnect_of_ours_forgets_them_too() -> None:
    session = connected(V5)
    session.receive_data(qos1(4, version=V5))
    session.disconnect()
    assert session.acknowledge(1) == b""
    session.connect()
    session.receive_data(encode(ConnAck(session_present=True), V5))
    assert session.unacknowledged == 0


def test_a_session_that_has_acknowledged_everything_holds_no_state() -> None:
    session = connected(V5)
    session.receive_data(qos1(4, 5, version=V5))
    session.acknowledge(2)
    assert session._flight is None  # back to the idle state every device is in


def test_more_than_our_receive_maximum_held_is_taken_as_it_comes() -> None:
    """Mosquitto 2.0.11 overshoots a Receive Maximum when the oldest message is acknowledged
    (tests/integration/test_broker_inflight_window.py): held messages are not refused, and a
    packet id the broker reuses is acknowledged again in its turn."""
    options = ConnectOptions(receive_maximum=2, manual_acks=True)
    session = connected(V5, options)
    session.receive_data(qos1(1, 2, version=V5))
    assert topics(session.receive_data(qos1(3, 1, version=V5))) == ["t/3", "t/1"]
    assert session.acknowledge(4) == pubacks(1, 2, 3, 1, version=V5)
    assert session.state is SessionState.CONNECTED


def test_the_receive_maximum_we_state_is_sent_in_connect() -> None:
    session = ClientSession(
        "ingest-0", V5, 60, options=ConnectOptions(receive_maximum=65535, manual_acks=True)
    )
    result = decode(session.connect(), V5)
    assert result is not None
    connect = result[0]
    assert isinstance(connect, Connect)
    assert connect.properties.receive_maximum == 65535
