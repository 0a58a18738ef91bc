"""Variable byte integers, strings and binary data."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.errors import LocalProtocolError, RemoteProtocolError
from simulator.mqtt.primitives import (
    MAX_VARINT,
    decode_binary,
    decode_string,
    decode_varint,
    encode_binary,
    encode_string,
    encode_varint,
)


@given(st.integers(0, MAX_VARINT))
def test_varint_round_trip(value: int) -> None:
    wire = encode_varint(value)
    assert len(wire) == 1 + (value >= 128) + (value >= 16_384) + (value >= 2_097_152)
    assert decode_varint(wire, 0, len(wire)) == (value, len(wire))


@pytest.mark.parametrize("value", [-1, MAX_VARINT + 1])
def test_varint_out_of_range_is_local(value: int) -> None:
    with pytest.raises(LocalProtocolError):
        encode_varint(value)


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"\xff\xff\xff\xff\x01", "longer than 4 bytes"),
        (b"\x80\x80", "runs past the end"),
        (b"\x80\x00", "not minimally encoded"),
    ],
)
def test_malformed_varint_is_remote(wire: bytes, message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        decode_varint(wire, 0, len(wire))


@given(st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00")))
def test_string_round_trip(value: str) -> None:
    wire = encode_string(value)
    assert decode_string(wire, 0, len(wire)) == (value, len(wire))


@given(st.binary(max_size=70_000))
def test_binary_round_trip_or_local_error(value: bytes) -> None:
    if len(value) > 65_535:
        with pytest.raises(LocalProtocolError):
            encode_binary(value)
        return
    wire = encode_binary(value)
    assert decode_binary(wire, 0, len(wire)) == (value, len(wire))


@pytest.mark.parametrize("value", ["nul\x00", "\udc80", "x" * 65_536, "\u00e9" * 32_768])
def test_unencodable_strings_are_local(value: str) -> None:
    with pytest.raises(LocalProtocolError):
        encode_string(value)


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"\x00\x01\x00", "U\\+0000"),
        (b"\x00\x02\xc3\x28", "not valid UTF-8"),
        (b"\x00\x03\xed\xa0\x80", "not valid UTF-8"),  # an encoded surrogate
        (b"\x00\x05ab", "runs past the end"),
        (b"\x00", "inside a string length"),
    ],
)
def test_malformed_strings_are_remote(wire: bytes, message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        decode_string(wire, 0, len(wire))
