"""The MQTT control packet types (the high nibble of the first byte)."""

from __future__ import annotations

from enum import IntEnum


class PacketType(IntEnum):
    """An MQTT control packet type."""

    CONNECT = 1
    CONNACK = 2
    PUBLISH = 3
    PUBACK = 4
    PUBREC = 5
    PUBREL = 6
    PUBCOMP = 7
    SUBSCRIBE = 8
    SUBACK = 9
    UNSUBSCRIBE = 10
    UNSUBACK = 11
    PINGREQ = 12
    PINGRESP = 13
    DISCONNECT = 14
    AUTH = 15


def packet_type_name(value: int) -> str:
    """Name of a packet type number, or a description of an unknown one, for error messages."""
    try:
        return PacketType(value).name
    except ValueError:
        return f"reserved packet type {value}"
