"""The protobuf primitives, checked against the encoding rules' own examples and edge values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.errors import PayloadError
from simulator.payloads.sparkplug.wire import (
    WireType,
    decode_packed_varints,
    decode_varint,
    double_field,
    encode_varint,
    float_field,
    iter_fields,
    len_field,
    to_signed64,
    varint_field,
)


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, "00"),
        (1, "01"),
        (127, "7f"),
        (128, "8001"),
        (150, "9601"),  # the protobuf documentation's own example
        (300, "ac02"),
        (16_383, "ff7f"),
        (16_384, "808001"),
        ((1 << 32) - 1, "ffffffff0f"),
        (1 << 63, "80808080808080808001"),
        ((1 << 64) - 1, "ffffffffffffffffff01"),
        # Negative values are 64-bit two's complement: always ten bytes, as for int32/int64.
        (-1, "ffffffffffffffffff01"),
        (-2, "feffffffffffffffff01"),
        (-(1 << 31), "80808080f8ffffffff01"),
        (-(1 << 63), "80808080808080808001"),
    ],
)
def test_varint_edge_values(value: int, encoded: str) -> None:
    assert encode_varint(value).hex() == encoded
    decoded, end = decode_varint(bytes.fromhex(encoded), 0)
    assert end == len(encoded) // 2
    assert decoded == value & ((1 << 64) - 1)
    assert to_signed64(decoded) == (value if value < 1 << 63 else value - (1 << 64))


@pytest.mark.parametrize("value", [1 << 64, -(1 << 63) - 1])
def test_varint_refuses_values_beyond_64_bits(value: int) -> None:
    with pytest.raises(PayloadError):
        encode_varint(value)


@given(st.integers(min_value=0, max_value=(1 << 64) - 1), st.binary(max_size=3))
def test_varint_round_trip_leaves_what_follows(value: int, tail: bytes) -> None:
    encoded = encode_varint(value)
    assert decode_varint(b"x" + encoded + tail, 1) == (value, 1 + len(encoded))


def test_truncated_and_overlong_varints_are_refused() -> None:
    for end in range(10):
        with pytest.raises(PayloadError, match="ends inside"):
            decode_varint(b"\xff" * end, 0)
    with pytest.raises(PayloadError, match="longer than 10"):
        decode_varint(b"\xff" * 10 + b"\x01", 0)


def test_bits_beyond_64_in_a_tenth_byte_are_dropped_as_protobuf_does() -> None:
    assert decode_varint(b"\xff" * 9 + b"\x7f", 0) == ((1 << 64) - 1, 10)


def test_fields_carry_their_key() -> None:
    assert varint_field(1, 150).hex() == "089601"
    assert len_field(2, b"testing").hex() == "1207" + b"testing".hex()
    assert double_field(13, 1.0).hex() == "69000000000000f03f"
    assert float_field(12, 1.0).hex() == "650000803f"
    assert varint_field(1 << 20, 0).hex() == "8080800400"


def test_float_fields_refuse_finite_values_beyond_32_bits() -> None:
    with pytest.raises(PayloadError):
        float_field(12, 1e300)
    assert float_field(12, float("inf")).hex() == "650000807f"


def test_iter_fields_yields_each_wire_type() -> None:
    data = varint_field(1, 5) + len_field(2, b"ab") + double_field(3, 0.5) + float_field(4, 2.0)
    assert list(iter_fields(data)) == [
        (1, WireType.VARINT, 5),
        (2, WireType.LEN, b"ab"),
        (3, WireType.I64, double_field(3, 0.5)[1:]),
        (4, WireType.I32, float_field(4, 2.0)[1:]),
    ]


@pytest.mark.parametrize(
    "data",
    [
        b"\x0b",  # wire type 3, a group start: Sparkplug has none
        b"\x0c",  # wire type 4, a group end
        b"\x0e",  # wire type 6 does not exist
        b"\x00\x00",  # field number 0
        b"\x12\x05ab",  # length past the end
        b"\x19\x00\x00",  # fixed64 cut short
        b"\x1d\x00",  # fixed32 cut short
        b"\x08",  # key without its value
    ],
)
def test_iter_fields_refuses_malformed_messages(data: bytes) -> None:
    with pytest.raises(PayloadError):
        list(iter_fields(data))


def test_packed_varints() -> None:
    assert decode_packed_varints(bytes.fromhex("03" + "8e02" + "9ea705")) == [3, 270, 86942]
    with pytest.raises(PayloadError):
        decode_packed_varints(b"\x03\x80")
