"""Protocol Buffers wire format: the primitives Sparkplug B payloads are built from.

Written from the protobuf encoding rules, for exactly what ``sparkplug_b.proto`` uses: varints
(``uint32``, ``uint64``, ``bool``), little-endian fixed 32- and 64-bit values (``float``,
``double``) and length-delimited fields (``string``, ``bytes``, nested messages, packed
repeated scalars). The schema has no ``sint`` fields, so there is no zigzag here.

A negative integer given to :func:`encode_varint` is written as its 64-bit two's complement,
ten bytes long, which is what protobuf does for a negative ``int32``/``int64`` and what a
negative Sparkplug ``Int64`` becomes in its ``uint64`` field.

Decoders raise :class:`~simulator.errors.PayloadError` for anything malformed: a field or varint
running past the end, a varint longer than ten bytes, a wire type protobuf does not define or
that Sparkplug never uses (groups).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from enum import IntEnum

from simulator.errors import PayloadError

U32_MASK = (1 << 32) - 1
U64_MASK = (1 << 64) - 1
MAX_VARINT_BYTES = 10
"""A 64-bit value takes at most ten 7-bit groups."""

_I64_MIN = -(1 << 63)
_FLOAT = struct.Struct("<f")
_DOUBLE = struct.Struct("<d")


class WireType(IntEnum):
    """The wire types a protobuf field tag can name (3 and 4, groups, are refused)."""

    VARINT = 0
    I64 = 1
    LEN = 2
    I32 = 5


_WIRE_TYPES = frozenset(WireType)


def encode_varint(value: int) -> bytes:
    """Return ``value`` as a base-128 varint; negatives as 64-bit two's complement (10 bytes).

    Raises :class:`PayloadError` outside ``-2**63 <= value < 2**64``.
    """
    if 0 <= value < 0x80:
        return bytes((value,))
    if not _I64_MIN <= value <= U64_MASK:
        raise PayloadError(f"integer {value} does not fit in 64 bits")
    value &= U64_MASK
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(data: bytes, pos: int) -> tuple[int, int]:
    """Read the varint at ``pos``; return ``(value, position after it)``.

    Bits beyond the 64th are dropped, as protobuf parsers do; an eleventh byte is an error.
    """
    byte = data[pos] if pos < len(data) else -1
    if 0 <= byte < 0x80:
        return byte, pos + 1
    value = 0
    shift = 0
    for i in range(pos, min(pos + MAX_VARINT_BYTES, len(data))):
        byte = data[i]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value & U64_MASK, i + 1
        shift += 7
    if len(data) - pos >= MAX_VARINT_BYTES:
        raise PayloadError("varint longer than 10 bytes")
    raise PayloadError("payload ends inside a varint")


def to_signed64(value: int) -> int:
    """Read an unsigned 64-bit value as two's complement."""
    return value - (1 << 64) if value >> 63 else value


def tag(field: int, wire_type: WireType) -> bytes:
    """Return the encoded key of a field: its number and wire type."""
    return encode_varint(field << 3 | wire_type)


def varint_field(field: int, value: int) -> bytes:
    """Return a whole varint field: key, then value."""
    return tag(field, WireType.VARINT) + encode_varint(value)


def len_field(field: int, body: bytes) -> bytes:
    """Return a whole length-delimited field: key, length, then ``body``."""
    return tag(field, WireType.LEN) + encode_varint(len(body)) + body


def float_field(field: int, value: float) -> bytes:
    """Return a ``float`` field (32-bit IEEE 754, little-endian).

    Raises :class:`PayloadError` for a finite value beyond the 32-bit range.
    """
    try:
        return tag(field, WireType.I32) + _FLOAT.pack(value)
    except (OverflowError, struct.error) as exc:
        raise PayloadError(f"cannot encode {value!r} as a 32-bit float: {exc}") from None


def double_field(field: int, value: float) -> bytes:
    """Return a ``double`` field (64-bit IEEE 754, little-endian)."""
    return tag(field, WireType.I64) + _DOUBLE.pack(value)


def unpack_float(raw: bytes) -> float:
    """Read the four bytes of a ``float`` field."""
    value: float = _FLOAT.unpack(raw)[0]
    return value


def unpack_double(raw: bytes) -> float:
    """Read the eight bytes of a ``double`` field."""
    value: float = _DOUBLE.unpack(raw)[0]
    return value


def iter_fields(data: bytes) -> Iterator[tuple[int, WireType, int | bytes]]:
    """Yield ``(field number, wire type, value)`` for every field of one message.

    The value is an ``int`` for a varint and ``bytes`` otherwise (the raw four or eight bytes of
    a fixed field, the body of a length-delimited one). Unknown fields are the caller's to skip.
    """
    pos = 0
    end = len(data)
    while pos < end:
        key, pos = decode_varint(data, pos)
        field = key >> 3
        wire_type = key & 7
        if field == 0 or wire_type not in _WIRE_TYPES:
            raise PayloadError(f"invalid field key {key}")
        if wire_type == WireType.VARINT:
            value, pos = decode_varint(data, pos)
            yield field, WireType.VARINT, value
            continue
        if wire_type == WireType.LEN:
            size, pos = decode_varint(data, pos)
        else:
            size = 8 if wire_type == WireType.I64 else 4
        stop = pos + size
        if stop > end:
            raise PayloadError(f"field {field} runs past the end of the payload")
        yield field, WireType(wire_type), data[pos:stop]
        pos = stop


def decode_packed_varints(body: bytes) -> list[int]:
    """Read the body of a packed repeated varint field."""
    values = []
    pos = 0
    while pos < len(body):
        value, pos = decode_varint(body, pos)
        values.append(value)
    return values
