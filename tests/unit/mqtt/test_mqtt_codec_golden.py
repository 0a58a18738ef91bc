"""Hand-checked bytes from the MQTT 3.1.1 and 5.0 specifications, and malformed input."""

from __future__ import annotations

import pytest

from simulator.errors import LocalProtocolError, RemoteProtocolError
from simulator.mqtt import (
    Auth,
    ConnAck,
    Connect,
    Decoder,
    Disconnect,
    MQTTVersion,
    Packet,
    PingReq,
    Properties,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    SubAck,
    Subscribe,
    Subscription,
    UnsubAck,
    Unsubscribe,
    Will,
    decode,
    encode,
)
from tests.unit.mqtt.versions import V5, V311

# 3.1.1 figure 3.6 / 5.0 figure 3-6: CONNECT variable header with flags 0xCE, keep alive 10.
CONNECT_V311 = bytes.fromhex(
    "10 1b 0004 4d515454 04 ce 000a 0003 646576 0001 74 0001 78 0001 75 0001 70"
)
CONNECT_V5 = bytes.fromhex(
    "10 22 0004 4d515454 05 ce 000a 05 11 0000000a 0003 646576 00 0001 74 0001 78 0001 75 0001 70"
)
_WILL = Will("t", b"x", qos=1)
GOLDEN: list[tuple[MQTTVersion, Packet, bytes]] = [
    (V311, Connect("dev", 10, True, "u", b"p", _WILL), CONNECT_V311),
    (
        V5,
        Connect("dev", 10, True, "u", b"p", _WILL, Properties(session_expiry_interval=10)),
        CONNECT_V5,
    ),
    # 3.1.1 figure 3.11: PUBLISH variable header for topic "a/b", packet id 10.
    (
        V311,
        Publish("a/b", b"hi", qos=1, packet_id=10),
        bytes.fromhex("32 09 0003 612f62 000a 6869"),
    ),
    (
        V5,
        Publish("a/b", b"hi", qos=1, packet_id=10),
        bytes.fromhex("32 0a 0003 612f62 000a 00 6869"),
    ),
    (V311, Publish("a/b", b"", retain=True), bytes.fromhex("31 05 0003 612f62")),
    # 1.5.3 figure 1.1: the string "A\U0002A6D4" is 00 05 41 F0 AA 9B 94.
    (V311, Publish("A\U0002a6d4", b""), bytes.fromhex("30 07 0005 41f0aa9b94")),
    (V311, ConnAck(True, 0), bytes.fromhex("20 02 01 00")),
    (V311, ConnAck(False, 5), bytes.fromhex("20 02 00 05")),
    (V5, ConnAck(False, 0x87), bytes.fromhex("20 03 00 87 00")),
    (
        V5,
        ConnAck(properties=Properties(receive_maximum=20)),
        bytes.fromhex("20 06 00 00 03 21 0014"),
    ),
    (V311, PubAck(10), bytes.fromhex("40 02 000a")),
    (V5, PubAck(10), bytes.fromhex("40 02 000a")),
    (V5, PubAck(10, 0x10), bytes.fromhex("40 03 000a 10")),
    (
        V311,
        Subscribe(10, (Subscription("a/b", 1), Subscription("c/d", 2))),
        bytes.fromhex("82 0e 000a 0003 612f62 01 0003 632f64 02"),
    ),
    (
        V5,
        Subscribe(10, (Subscription("a/#", 1, no_local=True, retain_handling=2),)),
        bytes.fromhex("82 09 000a 00 0003 612f23 25"),
    ),
    (V311, SubAck(10, (0, 1, 0x80)), bytes.fromhex("90 05 000a 00 01 80")),
    (V5, SubAck(10, (1, 0x87)), bytes.fromhex("90 05 000a 00 01 87")),
    # 3.1.1 sections 3.5 to 3.7: PUBREC, PUBREL (flags 0010) and PUBCOMP are a packet id.
    (V311, PubRec(10), bytes.fromhex("50 02 000a")),
    (V311, PubRel(10), bytes.fromhex("62 02 000a")),
    (V311, PubComp(10), bytes.fromhex("70 02 000a")),
    # 5.0 sections 3.5.2 to 3.7.2: a bare success drops the reason code and property length.
    (V5, PubRec(10), bytes.fromhex("50 02 000a")),
    (V5, PubRec(10, 0x10), bytes.fromhex("50 03 000a 10")),
    (V5, PubRel(10, 0x92), bytes.fromhex("62 03 000a 92")),
    (
        V5,
        PubComp(10, 0x92, Properties(reason_string="gone")),
        bytes.fromhex("70 0b 000a 92 07 1f 0004 676f6e65"),
    ),
    # 3.1.1 figure 3.30: UNSUBSCRIBE payload with the topic filters "a/b" and "c/d".
    (V311, Unsubscribe(10, ("a/b", "c/d")), bytes.fromhex("a2 0c 000a 0003 612f62 0003 632f64")),
    (V5, Unsubscribe(10, ("a/b",)), bytes.fromhex("a2 08 000a 00 0003 612f62")),
    # 3.1.1 section 3.11: UNSUBACK has no payload; 5.0 3.11.3: one reason code per filter.
    (V311, UnsubAck(10), bytes.fromhex("b0 02 000a")),
    (V5, UnsubAck(10, (0x00, 0x11)), bytes.fromhex("b0 05 000a 00 00 11")),
    # 5.0 section 3.15: AUTH, Continue authentication with Authentication Method "SCRAM".
    (V5, Auth(0x18), bytes.fromhex("f0 02 18 00")),
    (
        V5,
        Auth(0x18, Properties(authentication_method="SCRAM")),
        bytes.fromhex("f0 0a 18 08 15 0005 5343 52 41 4d"),
    ),
    (V311, PingReq(), bytes.fromhex("c0 00")),
    (V311, Disconnect(), bytes.fromhex("e0 00")),
    (V5, Disconnect(), bytes.fromhex("e0 00")),
    (V5, Disconnect(0x8B), bytes.fromhex("e0 01 8b")),
]


@pytest.mark.parametrize(("version", "packet", "wire"), GOLDEN)
def test_golden_bytes_encode(version: MQTTVersion, packet: Packet, wire: bytes) -> None:
    assert encode(packet, version) == wire


@pytest.mark.parametrize(("version", "packet", "wire"), GOLDEN)
def test_golden_bytes_decode(version: MQTTVersion, packet: Packet, wire: bytes) -> None:
    assert decode(wire, version) == (packet, len(wire))


@pytest.mark.parametrize(
    ("size", "header"),
    [  # 3.1.1 table 2.4: remaining length boundaries.
        (0, "00"),
        (127, "7f"),
        (128, "8001"),
        (16_383, "ff7f"),
        (16_384, "808001"),
        (2_097_151, "ffff7f"),
        (2_097_152, "80808001"),
    ],
)
def test_remaining_length_boundaries(size: int, header: str) -> None:
    topic_field = bytes.fromhex("0001") + b"t"
    payload = bytes(max(size - len(topic_field), 0))
    if size == 0:
        assert decode(bytes.fromhex("c0" + header), V311) == (PingReq(), 2)
        return
    wire = encode(Publish("t", payload), V311)
    assert wire[1 : 1 + len(header) // 2] == bytes.fromhex(header)
    assert decode(wire, V311) == (Publish("t", payload), len(wire))


MALFORMED: list[tuple[MQTTVersion, str, str]] = [
    (V311, "30 ff ff ff ff 01", "PUBLISH remaining length is longer than 4 bytes"),
    (V311, "c0 80 00", "PINGREQ remaining length is not minimally encoded"),
    (V311, "c1 00", "PINGREQ packet: reserved fixed header flags"),
    (V5, "80 06 0001 00 0001 61", "SUBSCRIBE packet: reserved fixed header flags"),
    (V311, "36 06 0001 61 0001 00", "PUBLISH packet: QoS 3"),
    (V311, "38 04 0001 61 00", "PUBLISH packet: DUP flag set on a QoS 0"),
    (V311, "32 05 0001 61 0000", "PUBLISH packet: packet id 0"),
    (V311, "30 03 0005 61", "PUBLISH packet: topic runs past the end"),
    (V311, "30 03 0001 2b", "PUBLISH packet: topic name contains"),
    (V311, "30 03 0001 ff", "PUBLISH packet: topic is not valid UTF-8"),
    (V311, "30 02 0000", "PUBLISH packet: empty topic name"),
    (V5, "30 03 0000 00", "PUBLISH packet: empty topic name without a topic alias"),
    (V5, "30 06 0001 61 02 01 02", "PUBLISH packet: property payload_format_indicator must be 0"),
    (V5, "30 06 0001 61 02 05 00", "PUBLISH packet: unknown property identifier 0x05"),
    (
        V5,
        "30 08 0001 61 04 01 00 01 01",
        "PUBLISH packet: property payload_format_indicator appears",
    ),
    (
        V5,
        "30 07 0001 61 03 21 0001",
        "PUBLISH packet: property receive_maximum is not allowed in PUBLISH",
    ),
    (V5, "20 06 00 00 03 21 0000", "CONNACK packet: property receive_maximum must not be 0"),
    (V311, "20 02 02 00", "CONNACK packet: reserved acknowledge flags"),
    (V311, "20 02 00 06", "CONNACK packet: 3.1.1 return code must be 0..5"),
    (V311, "20 03 00 00 00", "CONNACK packet: 1 unexpected bytes"),
    (V311, "d0 01 00", "PINGRESP packet: 1 unexpected bytes"),
    (V311, "e0 01 00", "DISCONNECT packet: 1 unexpected bytes"),
    (V311, "40 03 0001 00", "PUBACK packet: 1 unexpected bytes"),
    (V311, "90 03 0001 03", "SUBACK packet: 3.1.1 return codes"),
    (V311, "90 02 0001", "SUBACK packet: no reason codes"),
    (V311, "82 06 0001 0001 61 04", "SUBSCRIBE packet: reserved subscription option bits"),
    (V5, "82 07 0001 00 0001 61 30", "SUBSCRIBE packet: reserved subscription option bits"),
    (V311, "82 02 0001", "SUBSCRIBE packet: no topic filters"),
    (V311, "82 07 0001 0002 232f 00", "SUBSCRIBE packet: '#' must be the whole last level"),
    (V311, "82 07 0001 0002 612b 00", "SUBSCRIBE packet: '\\+' must be a whole level"),
    (V311, "10 0b 0004 4d515454 04 02 000a 00", "CONNECT packet: packet ends inside"),
    (V311, "10 0c 0004 4d515453 04 02 000a 0000", "CONNECT packet: protocol name must be 'MQTT'"),
    (V5, "10 0c 0004 4d515454 04 02 000a 0000", "CONNECT packet: protocol level 4"),
    (V311, "10 0c 0004 4d515454 04 03 000a 0000", "CONNECT packet: reserved connect flag"),
    (V311, "10 0c 0004 4d515454 04 42 000a 0000", "CONNECT packet: password flag set without"),
    (V311, "10 0c 0004 4d515454 04 0a 000a 0000", "CONNECT packet: will QoS or retain set"),
    (V311, "00 00", "packet type 0 is reserved"),
    (V5, "00 00", "packet type 0 is reserved"),
    (V311, "f0 00", "packet type 15 is reserved"),
    (V311, "60 02 0001", "PUBREL packet: reserved fixed header flags"),
    (V311, "52 02 0001", "PUBREC packet: reserved fixed header flags"),
    (V311, "70 02 0000", "PUBCOMP packet: packet id 0"),
    (V311, "50 03 0001 00", "PUBREC packet: 1 unexpected bytes"),
    (V5, "62 05 0001 00 01 26", "PUBREL packet: packet ends inside a string length"),
    (V5, "a0 06 0001 00 0001 61", "UNSUBSCRIBE packet: reserved fixed header flags"),
    (V311, "a2 02 0001", "UNSUBSCRIBE packet: no topic filters"),
    (V311, "a2 06 0001 0002 612b", "UNSUBSCRIBE packet: '\\+' must be a whole level"),
    (V311, "b0 03 0001 00", "UNSUBACK packet: 1 unexpected bytes"),
    (V5, "b0 03 0001 00", "UNSUBACK packet: no reason codes"),
    (V5, "f0 01 18", "AUTH packet: reason code without a property length"),
    (V5, "f1 00", "AUTH packet: reserved fixed header flags"),
    (V5, "f0 05 18 03 21 0001", "AUTH packet: property receive_maximum is not allowed in AUTH"),
]


def test_a_bare_auth_is_a_success_without_properties() -> None:
    assert decode(bytes.fromhex("f0 00"), V5) == (Auth(), 2)


@pytest.mark.parametrize(("version", "hexbytes", "message"), MALFORMED)
def test_malformed_input_names_the_packet_and_the_problem(
    version: MQTTVersion, hexbytes: str, message: str
) -> None:
    with pytest.raises(RemoteProtocolError, match=message.replace(".", r"\.").replace("(", r"\(")):
        decode(bytes.fromhex(hexbytes), version)


def test_a_packet_over_the_size_limit_is_refused_before_it_arrives() -> None:
    header = bytes.fromhex("30 80 01")  # PUBLISH, 128 more bytes to come
    assert decode(header, V311, max_packet_size=131) is None
    with pytest.raises(RemoteProtocolError, match=r"PUBLISH packet of 131 bytes exceeds"):
        decode(header, V311, max_packet_size=130)
    decoder = Decoder(V311, max_packet_size=130)
    decoder.feed(header)
    with pytest.raises(RemoteProtocolError, match="maximum packet size of 130"):
        decoder.next_packet()


def test_decoder_rejects_a_nonsense_size_limit() -> None:
    with pytest.raises(LocalProtocolError):
        Decoder(V311, max_packet_size=1)


def test_one_read_with_hundreds_of_publishes_decodes_in_order() -> None:
    sent = [Publish(f"plant/line/{i}", i.to_bytes(4, "big")) for i in range(500)]
    stream = b"".join(encode(p, V5) for p in sent)
    decoder = Decoder(V5)
    decoder.feed(stream[:-3])
    first = list(decoder)
    assert first == sent[:-1]
    assert decoder.buffered == len(encode(sent[-1], V5)) - 3
    decoder.feed(stream[-3:])
    assert list(decoder) == sent[-1:]
    assert decoder.buffered == 0


ENCODE_MISUSE: list[tuple[MQTTVersion, Packet, str]] = [
    (V311, Publish("a/+", b""), "wildcards"),
    (V311, Publish("", b""), "must not be empty"),
    (V311, Publish("a", b"", qos=1), "packet id"),
    (V311, Publish("a", b"", qos=0, packet_id=3), "must not carry a packet id"),
    (V311, Publish("a", b"", dup=True), "DUP"),
    (V311, Publish("a", b"", qos=3, packet_id=1), "QoS must be 0, 1 or 2"),
    (V311, Publish("a\x00", b""), "U\\+0000"),
    (V311, Publish("\ud800", b""), "not valid UTF-8"),
    (V311, Publish("a" * 65_536, b""), "at most 65535"),
    (V311, Publish("a", b"", properties=Properties(content_type="x")), "need MQTT 5"),
    (V5, Publish("a", b"", properties=Properties(receive_maximum=5)), "not allowed in PUBLISH"),
    (V5, Publish("a", b"", properties=Properties(payload_format_indicator=2)), "0 or 1"),
    (V311, Connect("c", 70_000), "0..65535"),
    (V311, Connect("c", 10, password=b"p"), "password without a username"),
    (V311, PubAck(1, 0x10), "need MQTT 5"),
    (V311, PubAck(0), "packet id"),
    (V311, Disconnect(0x8B), "need MQTT 5"),
    (V311, ConnAck(reason_code=0x87), "0..5"),
    (V311, SubAck(1, (0x87,)), "3.1.1 SUBACK"),
    (V311, SubAck(1, ()), "at least one"),
    (V311, PubRec(1, 0x10), "PUBREC reason codes need MQTT 5"),
    (V311, PubComp(1, properties=Properties(reason_string="x")), "need MQTT 5"),
    (V311, PubRel(0), "PUBREL needs a packet id"),
    (V311, Auth(), "AUTH needs MQTT 5"),
    (V311, UnsubAck(1, (0,)), "UNSUBACK reason codes need MQTT 5"),
    (V5, UnsubAck(1, ()), "at least one reason code"),
    (V311, Unsubscribe(1, ()), "at least one topic filter"),
    (V5, Unsubscribe(1, ("a/#/b",)), "'#' must be the whole last level"),
    (V5, Auth(0x18, Properties(topic_alias=1)), "not allowed in AUTH"),
    (V311, Subscribe(1, ()), "at least one"),
    (V311, Subscribe(1, (Subscription("a", no_local=True),)), "need MQTT 5"),
    (V5, Subscribe(1, (Subscription("a", retain_handling=3),)), "retain handling"),
    (V5, Subscribe(1, (Subscription(""),)), "must not be empty"),
    (V5, Subscribe(1, (Subscription("a/#/b"),)), "'#' must be the whole last level"),
    (V5, Subscribe(1, (Subscription("a/b+"),)), "'\\+' must be a whole level"),
]


@pytest.mark.parametrize(("version", "packet", "message"), ENCODE_MISUSE)
def test_encoding_an_invalid_packet_is_a_local_error(
    version: MQTTVersion, packet: Packet, message: str
) -> None:
    with pytest.raises(LocalProtocolError, match=message):
        encode(packet, version)
