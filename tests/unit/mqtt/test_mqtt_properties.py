"""MQTT 5 properties: the table, the codec, and what the spec forbids."""

from __future__ import annotations

from dataclasses import fields

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.errors import LocalProtocolError, RemoteProtocolError
from simulator.mqtt import NO_PROPERTIES, PROPERTY_TABLE, PacketType, Properties
from simulator.mqtt.properties import WILL_PROPERTIES, decode_properties, encode_properties
from tests.unit.mqtt.mqtt_strategies import properties

CONTEXTS = [*PacketType, WILL_PROPERTIES]


def test_table_matches_the_specification() -> None:
    ids = [spec.identifier for spec in PROPERTY_TABLE]
    # The 27 identifiers of MQTT 5.0 section 2.2.2.2, table 2-4.
    assert ids == [
        *(0x01, 0x02, 0x03, 0x08, 0x09, 0x0B, 0x11, 0x12, 0x13, 0x15, 0x16, 0x17, 0x18, 0x19),
        *(0x1A, 0x1C, 0x1F, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2A),
    ]
    assert [f.name for f in fields(Properties)] == [spec.name for spec in PROPERTY_TABLE]
    assert [s.name for s in PROPERTY_TABLE if s.repeatable] == [
        "subscription_identifiers",
        "user_properties",
    ]


@pytest.mark.parametrize("context", CONTEXTS, ids=str)
@given(data=st.data())
def test_round_trip_in_every_context(context: int, data: st.DataObject) -> None:
    props = data.draw(properties(context))
    wire = encode_properties(props, context)
    assert decode_properties(wire, 0, len(wire), context) == (props, len(wire))


def test_no_properties_is_one_zero_byte_and_decodes_to_the_shared_instance() -> None:
    assert encode_properties(NO_PROPERTIES, PacketType.PUBLISH) == b"\x00"
    assert decode_properties(b"\x00", 0, 1, PacketType.PUBLISH)[0] is NO_PROPERTIES


def test_user_properties_keep_order_and_repeats() -> None:
    props = Properties(user_properties=(("k", "1"), ("k", "2"), ("a", "3")))
    wire = encode_properties(props, PacketType.PUBLISH)
    assert decode_properties(wire, 0, len(wire), PacketType.PUBLISH)[0] == props


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"\x02\x30\x00", "unknown property identifier 0x30"),
        (b"\x04\x23\x00\x01\x23", "packet ends inside a two-byte"),
        (b"\x06\x23\x00\x01\x23\x00\x02", "topic_alias appears more than once"),
        (b"\x03\x23\x00\x00", "topic_alias must not be 0"),
        (b"\x02\x0b\x00", "subscription_identifiers must not be 0"),
        (b"\x02\x24\x01", "maximum_qos is not allowed in PUBLISH"),
        (b"\x05\x01\x00", "runs past the end"),
    ],
)
def test_malformed_properties_are_remote(wire: bytes, message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        decode_properties(wire, 0, len(wire), PacketType.PUBLISH)


def test_properties_we_may_not_send_are_local() -> None:
    with pytest.raises(LocalProtocolError, match="will_delay_interval is not allowed in PUBLISH"):
        encode_properties(Properties(will_delay_interval=5), PacketType.PUBLISH)
    with pytest.raises(LocalProtocolError, match=r"0\.\.65535"):
        encode_properties(Properties(topic_alias=70_000), PacketType.PUBLISH)
