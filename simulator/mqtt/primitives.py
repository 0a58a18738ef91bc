"""MQTT data representations: integers, variable byte integers, UTF-8 strings, binary data.

Encoders raise :class:`LocalProtocolError` (we were handed a value MQTT cannot carry);
decoders raise :class:`RemoteProtocolError` (the peer sent bytes that break the rules).
Decoders work inside one packet whose full length is already known, so running past
``end`` is a malformed packet, never "need more data".
"""

from __future__ import annotations

from ..errors import LocalProtocolError, RemoteProtocolError

Buffer = bytes | bytearray | memoryview
"""Anything the decoders accept: indexing yields ints, slicing yields a buffer."""

MAX_VARINT = 268_435_455
"""Largest value a four-byte variable byte integer can hold."""
MAX_STRING_BYTES = 65_535


def encode_varint(value: int) -> bytes:
    """Encode a variable byte integer (1 to 4 bytes)."""
    if value < 128:
        if value < 0:
            raise LocalProtocolError(f"variable byte integer must not be negative, got {value}")
        return bytes((value,))
    if value > MAX_VARINT:
        raise LocalProtocolError(f"variable byte integer must be at most {MAX_VARINT}, got {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(buf: Buffer, pos: int, end: int) -> tuple[int, int]:
    """Decode a variable byte integer at ``pos``; return ``(value, position after it)``."""
    value = 0
    shift = 0
    for i in range(pos, min(pos + 4, end)):
        byte = buf[i]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if i > pos and byte == 0:
                # The spec requires the minimal encoding; 0x80 0x00 is malformed.
                raise RemoteProtocolError("variable byte integer is not minimally encoded")
            return value, i + 1
        shift += 7
    if end - pos >= 4:
        raise RemoteProtocolError("variable byte integer longer than 4 bytes")
    raise RemoteProtocolError("variable byte integer runs past the end of the packet")


def encode_u16(value: int) -> bytes:
    """Encode a two-byte big-endian integer."""
    if not 0 <= value <= 0xFFFF:
        raise LocalProtocolError(f"two-byte integer must be in 0..65535, got {value}")
    return bytes((value >> 8, value & 0xFF))


def encode_u32(value: int) -> bytes:
    """Encode a four-byte big-endian integer."""
    if not 0 <= value <= 0xFFFF_FFFF:
        raise LocalProtocolError(f"four-byte integer must be in 0..4294967295, got {value}")
    return value.to_bytes(4, "big")


def decode_u8(buf: Buffer, pos: int, end: int) -> tuple[int, int]:
    """Decode one byte at ``pos``."""
    if pos >= end:
        raise RemoteProtocolError("packet ends inside a one-byte field")
    return buf[pos], pos + 1


def decode_u16(buf: Buffer, pos: int, end: int) -> tuple[int, int]:
    """Decode a two-byte big-endian integer at ``pos``."""
    if pos + 2 > end:
        raise RemoteProtocolError("packet ends inside a two-byte integer")
    return (buf[pos] << 8) | buf[pos + 1], pos + 2


def decode_u32(buf: Buffer, pos: int, end: int) -> tuple[int, int]:
    """Decode a four-byte big-endian integer at ``pos``."""
    if pos + 4 > end:
        raise RemoteProtocolError("packet ends inside a four-byte integer")
    return int.from_bytes(buf[pos : pos + 4], "big"), pos + 4


def encode_string(value: str) -> bytes:
    """Encode a UTF-8 string with its two-byte length prefix."""
    if "\x00" in value:
        raise LocalProtocolError(f"MQTT strings must not contain U+0000: {value!r}")
    try:
        data = value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise LocalProtocolError(f"string is not valid UTF-8 ({exc.reason}): {value!r}") from exc
    size = len(data)
    if size > MAX_STRING_BYTES:
        raise LocalProtocolError(f"string is {size} bytes encoded; MQTT allows at most 65535")
    return bytes((size >> 8, size & 0xFF)) + data


def _prefixed_end(buf: Buffer, pos: int, end: int, what: str) -> int:
    """Where the ``what`` at ``pos``, after its two-byte length, ends: by ``end`` or an error."""
    if pos + 2 > end:
        raise RemoteProtocolError(f"packet ends inside a {what} length")
    stop = pos + 2 + ((buf[pos] << 8) | buf[pos + 1])
    if stop > end:
        raise RemoteProtocolError(f"{what} runs past the end of the packet")
    return stop


def decode_string(buf: Buffer, pos: int, end: int) -> tuple[str, int]:
    """Decode a length-prefixed UTF-8 string at ``pos``."""
    stop = _prefixed_end(buf, pos, end, "string")
    try:
        value = str(buf[pos + 2 : stop], "utf-8")
    except UnicodeDecodeError as exc:
        raise RemoteProtocolError(f"string is not valid UTF-8: {exc.reason}") from exc
    if "\x00" in value:
        raise RemoteProtocolError("string contains U+0000")
    return value, stop


def encode_binary(value: bytes) -> bytes:
    """Encode binary data with its two-byte length prefix."""
    size = len(value)
    if size > MAX_STRING_BYTES:
        raise LocalProtocolError(f"binary data is {size} bytes; MQTT allows at most 65535")
    return bytes((size >> 8, size & 0xFF)) + value


def decode_binary(buf: Buffer, pos: int, end: int) -> tuple[bytes, int]:
    """Decode length-prefixed binary data at ``pos``."""
    stop = _prefixed_end(buf, pos, end, "binary data")
    return bytes(buf[pos + 2 : stop]), stop


def topic_filter_problem(topic_filter: str) -> str | None:
    """Why ``topic_filter`` is not a valid filter, or None if it is.

    ``#`` must be a whole level and the last one; ``+`` must be a whole level.
    """
    if not topic_filter:
        return "a topic filter must not be empty"
    levels = topic_filter.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            return f"'#' must be the whole last level of a topic filter: {topic_filter!r}"
        if "+" in level and level != "+":
            return f"'+' must be a whole level of a topic filter: {topic_filter!r}"
    return None
