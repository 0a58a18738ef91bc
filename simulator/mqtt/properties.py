"""MQTT 5 properties: the identifier table from the specification (section 2.2.2.2) and their codec.

A packet's properties decode to one immutable :class:`Properties`; absent properties are ``None``
(or an empty tuple for the two repeatable ones), and :data:`NO_PROPERTIES` is the shared empty
instance, so the common "no properties" case allocates nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

from ..errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from .packet_type import PacketType
from .primitives import (
    Buffer,
    decode_binary,
    decode_string,
    decode_u8,
    decode_u16,
    decode_u32,
    decode_varint,
    encode_binary,
    encode_string,
    encode_u16,
    encode_u32,
    encode_varint,
)

WILL_PROPERTIES: Final = 0
"""Context number for the will properties inside CONNECT (packet types start at 1)."""


class PropertyType(Enum):
    """How a property value is represented on the wire."""

    BYTE = "Byte"
    TWO_BYTE = "Two Byte Integer"
    FOUR_BYTE = "Four Byte Integer"
    VARINT = "Variable Byte Integer"
    STRING = "UTF-8 Encoded String"
    BINARY = "Binary Data"
    STRING_PAIR = "UTF-8 String Pair"


@dataclass(frozen=True, slots=True)
class PropertySpec:
    """One row of the specification's property table."""

    identifier: int
    name: str
    """The attribute name on :class:`Properties`."""
    kind: PropertyType
    contexts: frozenset[int]
    """Packet types (or :data:`WILL_PROPERTIES`) the property may appear in."""
    repeatable: bool = False


_P = PacketType
_B, _U16, _U32, _VI, _S, _BIN, _PAIR = PropertyType
_PUB_WILL = frozenset({_P.PUBLISH, WILL_PROPERTIES})
_ACKS = frozenset(
    {_P.CONNACK, _P.PUBACK, _P.PUBREC, _P.PUBREL, _P.PUBCOMP, _P.SUBACK, _P.UNSUBACK}
    | {_P.DISCONNECT, _P.AUTH}
)

PROPERTY_TABLE: Final[tuple[PropertySpec, ...]] = (
    PropertySpec(0x01, "payload_format_indicator", _B, _PUB_WILL),
    PropertySpec(0x02, "message_expiry_interval", _U32, _PUB_WILL),
    PropertySpec(0x03, "content_type", _S, _PUB_WILL),
    PropertySpec(0x08, "response_topic", _S, _PUB_WILL),
    PropertySpec(0x09, "correlation_data", _BIN, _PUB_WILL),
    PropertySpec(
        0x0B, "subscription_identifiers", _VI, frozenset({_P.PUBLISH, _P.SUBSCRIBE}), True
    ),
    PropertySpec(
        0x11, "session_expiry_interval", _U32, frozenset({_P.CONNECT, _P.CONNACK, _P.DISCONNECT})
    ),
    PropertySpec(0x12, "assigned_client_identifier", _S, frozenset({_P.CONNACK})),
    PropertySpec(0x13, "server_keep_alive", _U16, frozenset({_P.CONNACK})),
    PropertySpec(0x15, "authentication_method", _S, frozenset({_P.CONNECT, _P.CONNACK, _P.AUTH})),
    PropertySpec(0x16, "authentication_data", _BIN, frozenset({_P.CONNECT, _P.CONNACK, _P.AUTH})),
    PropertySpec(0x17, "request_problem_information", _B, frozenset({_P.CONNECT})),
    PropertySpec(0x18, "will_delay_interval", _U32, frozenset({WILL_PROPERTIES})),
    PropertySpec(0x19, "request_response_information", _B, frozenset({_P.CONNECT})),
    PropertySpec(0x1A, "response_information", _S, frozenset({_P.CONNACK})),
    PropertySpec(0x1C, "server_reference", _S, frozenset({_P.CONNACK, _P.DISCONNECT})),
    PropertySpec(0x1F, "reason_string", _S, _ACKS),
    PropertySpec(0x21, "receive_maximum", _U16, frozenset({_P.CONNECT, _P.CONNACK})),
    PropertySpec(0x22, "topic_alias_maximum", _U16, frozenset({_P.CONNECT, _P.CONNACK})),
    PropertySpec(0x23, "topic_alias", _U16, frozenset({_P.PUBLISH})),
    PropertySpec(0x24, "maximum_qos", _B, frozenset({_P.CONNACK})),
    PropertySpec(0x25, "retain_available", _B, frozenset({_P.CONNACK})),
    PropertySpec(0x26, "user_properties", _PAIR, frozenset(_P) | {WILL_PROPERTIES}, True),
    PropertySpec(0x27, "maximum_packet_size", _U32, frozenset({_P.CONNECT, _P.CONNACK})),
    PropertySpec(0x28, "wildcard_subscription_available", _B, frozenset({_P.CONNACK})),
    PropertySpec(0x29, "subscription_identifier_available", _B, frozenset({_P.CONNACK})),
    PropertySpec(0x2A, "shared_subscription_available", _B, frozenset({_P.CONNACK})),
)
SPECS_BY_ID: Final[dict[int, PropertySpec]] = {spec.identifier: spec for spec in PROPERTY_TABLE}

# User properties go last so our bytes match other encoders (order is free in the spec).
_ENCODE_ORDER = tuple(
    sorted(PROPERTY_TABLE, key=lambda s: (s.kind is PropertyType.STRING_PAIR, s.identifier))
)
# Values the spec forbids: every Byte property is 0 or 1, and these must not be 0.
_NONZERO = frozenset({"receive_maximum", "topic_alias", "maximum_packet_size"})


@dataclass(frozen=True, slots=True, repr=False)
class Properties:
    """The MQTT 5 properties of one packet (or of a will); ``None`` means absent."""

    def __repr__(self) -> str:
        present = (
            f"{spec.name}={getattr(self, spec.name)!r}"
            for spec in PROPERTY_TABLE
            if getattr(self, spec.name) not in (None, ())
        )
        return f"Properties({', '.join(present)})"

    payload_format_indicator: int | None = None
    message_expiry_interval: int | None = None
    content_type: str | None = None
    response_topic: str | None = None
    correlation_data: bytes | None = None
    subscription_identifiers: tuple[int, ...] = ()
    session_expiry_interval: int | None = None
    assigned_client_identifier: str | None = None
    server_keep_alive: int | None = None
    authentication_method: str | None = None
    authentication_data: bytes | None = None
    request_problem_information: int | None = None
    will_delay_interval: int | None = None
    request_response_information: int | None = None
    response_information: str | None = None
    server_reference: str | None = None
    reason_string: str | None = None
    receive_maximum: int | None = None
    topic_alias_maximum: int | None = None
    topic_alias: int | None = None
    maximum_qos: int | None = None
    retain_available: int | None = None
    user_properties: tuple[tuple[str, str], ...] = ()
    maximum_packet_size: int | None = None
    wildcard_subscription_available: int | None = None
    subscription_identifier_available: int | None = None
    shared_subscription_available: int | None = None


NO_PROPERTIES: Final = Properties()
"""The shared empty property set."""


def _context_name(context: int) -> str:
    return "will properties" if context == WILL_PROPERTIES else PacketType(context).name


def _check_value(spec: PropertySpec, value: int, error: type[ProtocolError]) -> None:
    if spec.kind is PropertyType.BYTE and value not in (0, 1):
        raise error(f"property {spec.name} must be 0 or 1, got {value}")
    if value == 0 and (spec.name in _NONZERO or spec.kind is PropertyType.VARINT):
        raise error(f"property {spec.name} must not be 0")


def _decode_string_pair(buf: Buffer, pos: int, end: int) -> tuple[tuple[str, str], int]:
    key, pos = decode_string(buf, pos, end)
    text, pos = decode_string(buf, pos, end)
    return (key, text), pos


_DECODERS: Final[dict[PropertyType, Callable[[Buffer, int, int], tuple[Any, int]]]] = {
    _B: decode_u8,
    _U16: decode_u16,
    _U32: decode_u32,
    _VI: decode_varint,
    _S: decode_string,
    _BIN: decode_binary,
    _PAIR: _decode_string_pair,
}
_INTEGERS: Final = frozenset({_B, _U16, _U32, _VI})


def _encode_value(spec: PropertySpec, value: Any) -> bytes:
    kind = spec.kind
    if kind is PropertyType.STRING:
        return encode_string(value)
    if kind is PropertyType.BINARY:
        return encode_binary(value)
    if kind is PropertyType.STRING_PAIR:
        return encode_string(value[0]) + encode_string(value[1])
    _check_value(spec, value, LocalProtocolError)
    if kind is PropertyType.BYTE:
        return bytes((value,))
    if kind is PropertyType.TWO_BYTE:
        return encode_u16(value)
    if kind is PropertyType.FOUR_BYTE:
        return encode_u32(value)
    return encode_varint(value)


def encode_properties(props: Properties, context: int) -> bytes:
    """Encode ``props`` with their length prefix, checking each is allowed in ``context``."""
    if props is NO_PROPERTIES:
        return b"\x00"
    parts: list[bytes] = []
    for spec in _ENCODE_ORDER:
        value = getattr(props, spec.name)
        if value is None or value == ():
            continue
        if context not in spec.contexts:
            raise LocalProtocolError(
                f"property {spec.name} is not allowed in {_context_name(context)}"
            )
        ident = bytes((spec.identifier,))
        for item in value if spec.repeatable else (value,):
            parts.append(ident)
            parts.append(_encode_value(spec, item))
    body = b"".join(parts)
    return encode_varint(len(body)) + body


def decode_properties(buf: Buffer, pos: int, end: int, context: int) -> tuple[Properties, int]:
    """Decode a length-prefixed property block at ``pos``; return it and the position after it."""
    length, pos = decode_varint(buf, pos, end)
    if length == 0:
        return NO_PROPERTIES, pos
    stop = pos + length
    if stop > end:
        raise RemoteProtocolError("property block runs past the end of the packet")
    values: dict[str, Any] = {}
    while pos < stop:
        ident, pos = decode_varint(buf, pos, stop)
        spec = SPECS_BY_ID.get(ident)
        if spec is None:
            raise RemoteProtocolError(f"unknown property identifier 0x{ident:02X}")
        if context not in spec.contexts:
            raise RemoteProtocolError(
                f"property {spec.name} is not allowed in {_context_name(context)}"
            )
        value, pos = _DECODERS[spec.kind](buf, pos, stop)
        if spec.kind in _INTEGERS:
            _check_value(spec, value, RemoteProtocolError)
        if spec.repeatable:
            values.setdefault(spec.name, []).append(value)
        elif spec.name in values:
            raise RemoteProtocolError(f"property {spec.name} appears more than once")
        else:
            values[spec.name] = value
    for spec in PROPERTY_TABLE:
        if spec.repeatable and spec.name in values:
            values[spec.name] = tuple(values[spec.name])
    return Properties(**values), stop


__all__ = [
    "NO_PROPERTIES",
    "PROPERTY_TABLE",
    "SPECS_BY_ID",
    "WILL_PROPERTIES",
    "Properties",
    "PropertySpec",
    "PropertyType",
    "decode_properties",
    "encode_properties",
]
