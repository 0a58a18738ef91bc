"""Sparkplug B payload encoding and decoding: golden bytes, round trips, malformed input."""

from __future__ import annotations

import contextlib
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.errors import PayloadError
from simulator.payloads.sparkplug import (
    DataSet,
    DataType,
    Metric,
    PropertySet,
    PropertyValue,
    SparkplugPayload,
    Template,
    TemplateParameter,
    decode_payload,
    encode_payload,
)
from simulator.payloads.sparkplug.decoding import MAX_DEPTH
from simulator.payloads.sparkplug.wire import iter_fields, len_field, varint_field
from tests.unit.payloads.sparkplug.sparkplug_strategies import payloads

# The specification's own example payload, checked field by field against the .proto:
SPEC_EXAMPLE = SparkplugPayload(
    timestamp=1486144502122,
    metrics=(
        Metric(
            name="My Metric",
            alias=1,
            timestamp=1479123452194,
            datatype=DataType.String,
            value="Test",
        ),
    ),
    seq=2,
)
SPEC_EXAMPLE_HEX = (
    "08eaf2f5a8a02b"  # field 1 varint: timestamp 1486144502122
    "121c"  # field 2 length-delimited, 28 bytes: the metric
    "0a094d79204d6574726963"  # .field 1 length-delimited: name "My Metric"
    "1001"  # .field 2 varint: alias 1
    "18a2828395862b"  # .field 3 varint: timestamp 1479123452194
    "200c"  # .field 4 varint: datatype 12, String
    "7a0454657374"  # .field 15 length-delimited: string_value "Test"
    "1802"  # field 3 varint: seq 2
)


def test_golden_bytes_of_the_specification_example() -> None:
    assert encode_payload(SPEC_EXAMPLE).hex() == SPEC_EXAMPLE_HEX
    assert decode_payload(bytes.fromhex(SPEC_EXAMPLE_HEX)) == SPEC_EXAMPLE


def test_empty_payload_is_empty_bytes() -> None:
    assert encode_payload(SparkplugPayload()) == b""
    assert decode_payload(b"") == SparkplugPayload()


@given(payloads())
def test_round_trip(payload: SparkplugPayload) -> None:
    assert decode_payload(encode_payload(payload)) == payload


@given(payloads())
def test_every_truncation_inside_a_field_is_refused(payload: SparkplugPayload) -> None:
    # A protobuf message cut at a field boundary is a valid, shorter message, so those cuts
    # must decode to the fields before the cut; every other cut must raise PayloadError.
    data = encode_payload(payload)
    boundaries = {0}
    position = 0
    for field, _, value in iter_fields(data):
        position += len(_whole_field(field, value))
        boundaries.add(position)
    for end in range(len(data)):
        if end in boundaries:
            decode_payload(data[:end])
        else:
            with pytest.raises(PayloadError):
                decode_payload(data[:end])


def _whole_field(field: int, value: int | bytes) -> bytes:
    # A Payload's own fields are varints or length-delimited; ours are minimally encoded.
    if isinstance(value, int):
        return varint_field(field, value)
    return len_field(field, value)


@given(st.binary(max_size=200))
def test_garbage_raises_only_payload_error(data: bytes) -> None:
    try:
        decoded = decode_payload(data)
    except PayloadError:
        return
    assert isinstance(decoded, SparkplugPayload)


@given(payloads(), st.data())
def test_corrupted_payloads_raise_only_payload_error(
    payload: SparkplugPayload, data: st.DataObject
) -> None:
    encoded = bytearray(encode_payload(payload))
    if not encoded:
        return
    index = data.draw(st.integers(0, len(encoded) - 1))
    encoded[index] = data.draw(st.integers(0, 255))
    with contextlib.suppress(PayloadError):
        decode_payload(bytes(encoded))


@pytest.mark.parametrize(
    ("datatype", "value", "wire"),
    [
        (DataType.Int8, -1, "50ff01"),  # width-limited two's complement: 255
        (DataType.Int8, -128, "508001"),
        (DataType.Int16, -1, "50ffff03"),
        (DataType.Int32, -1, "50ffffffff0f"),
        (DataType.UInt32, (1 << 32) - 1, "50ffffffff0f"),
        (DataType.Int64, -1, "58ffffffffffffffffff01"),  # ten bytes, as protobuf's int64
        (DataType.UInt64, (1 << 64) - 1, "58ffffffffffffffffff01"),
        (DataType.DateTime, 1486144502122, "58eaf2f5a8a02b"),
        (DataType.Boolean, True, "7001"),
        (DataType.Float, 0.5, "650000003f"),
        (DataType.Double, 0.5, "69000000000000e03f"),
        (DataType.Bytes, b"\x00\x01", "8201020001"),
    ],
)
def test_values_go_in_the_field_their_type_names(
    datatype: DataType, value: object, wire: str
) -> None:
    metric = Metric(datatype=datatype, value=value)  # type: ignore[arg-type]
    encoded = encode_payload(SparkplugPayload(metrics=(metric,)))
    body = varint_field(4, datatype).hex() + wire
    assert encoded.hex() == len_field(2, bytes.fromhex(body)).hex()
    assert decode_payload(encoded).metrics == (metric,)


@pytest.mark.parametrize(
    ("datatype", "sign_extended", "value"),
    [
        (DataType.Int8, 0xFFFFFFFF, -1),
        (DataType.Int16, 0xFFFF8000, -32768),
        (DataType.Int32, 0x80000000, -(1 << 31)),
    ],
)
def test_small_signed_ints_sign_extended_to_32_bits_are_read_too(
    datatype: DataType, sign_extended: int, value: int
) -> None:
    body = varint_field(4, datatype) + varint_field(10, sign_extended)
    assert decode_payload(len_field(2, body)).metrics[0].value == value


@pytest.mark.parametrize(
    "body",
    [
        varint_field(4, DataType.UInt8) + varint_field(10, 256),
        varint_field(4, DataType.Int8) + varint_field(10, 0x1FF),  # neither form of an Int8
        varint_field(4, DataType.Int16) + varint_field(11, (1 << 64) - 1),
        varint_field(4, DataType.Double) + varint_field(10, 1),  # a Double in int_value
        varint_field(4, DataType.String) + varint_field(14, 1),
        varint_field(4, 99) + varint_field(10, 1),  # no such data type
        varint_field(4, DataType.String) + len_field(15, b"\xff"),  # invalid UTF-8
        len_field(1, b"\xc3"),  # a name cut inside a UTF-8 sequence
        len_field(4, b"x"),  # datatype with the wire type of a string
        varint_field(13, 0),  # double_value with the wire type of a varint
        len_field(9, len_field(1, b"k")),  # a PropertySet with a key and no value
    ],
)
def test_malformed_metrics_are_refused(body: bytes) -> None:
    with pytest.raises(PayloadError):
        decode_payload(len_field(2, body))


@pytest.mark.parametrize(
    "metric",
    [
        Metric(datatype=DataType.Int8, value=128),
        Metric(datatype=DataType.UInt64, value=-1),
        Metric(datatype=DataType.Int32, value=True),
        Metric(datatype=DataType.Float, value=1e300),
        Metric(datatype=DataType.Boolean, value=1),
        Metric(datatype=DataType.String, value=b"x"),
        Metric(datatype=DataType.String, value="\ud800"),
        Metric(name="\udfff"),
        Metric(value=-1),  # no data type: a non-negative int goes in long_value, -1 cannot
        Metric(value=[1]),  # type: ignore[arg-type]
        Metric(alias=1 << 64),
    ],
)
def test_encode_refuses_what_the_schema_cannot_carry(metric: Metric) -> None:
    with pytest.raises(PayloadError):
        encode_payload(SparkplugPayload(metrics=(metric,)))


def test_nan_and_infinities_round_trip() -> None:
    for datatype in (DataType.Float, DataType.Double):
        for value in (math.inf, -math.inf, math.nan):
            metric = Metric(datatype=datatype, value=value)
            [decoded] = decode_payload(encode_payload(SparkplugPayload(metrics=(metric,)))).metrics
            assert isinstance(decoded.value, float)
            assert decoded.value == value or (math.isnan(value) and math.isnan(decoded.value))


def test_float_values_are_rounded_to_32_bits() -> None:
    metric = Metric(datatype=DataType.Float, value=0.1)
    [decoded] = decode_payload(encode_payload(SparkplugPayload(metrics=(metric,)))).metrics
    assert decoded.value == pytest.approx(0.1, rel=1e-7)
    assert decoded.value != 0.1


def test_dataset_round_trip() -> None:
    dataset = DataSet(
        columns=("id", "temp", "ok", "note"),
        types=(DataType.Int32, DataType.Double, DataType.Boolean, DataType.String),
        rows=((1, 20.5, True, "a"), (-2, None, False, "")),
    )
    metric = Metric(name="table", datatype=DataType.DataSet, value=dataset)
    assert decode_payload(encode_payload(SparkplugPayload(metrics=(metric,)))).metrics == (metric,)


def test_dataset_types_may_arrive_packed() -> None:
    unpacked = len_field(2, b"a") + varint_field(3, DataType.Int8)
    packed = len_field(2, b"a") + len_field(3, bytes((DataType.Int8,)))
    for body in (unpacked, packed):
        metric = decode_payload(len_field(2, len_field(17, varint_field(1, 1) + body))).metrics[0]
        assert metric.value == DataSet(("a",), (DataType.Int8,), ())


def test_dataset_shapes_must_agree() -> None:
    bad = DataSet(columns=("a", "b"), types=(DataType.Int8,))
    with pytest.raises(PayloadError):
        encode_payload(SparkplugPayload(metrics=(Metric(datatype=DataType.DataSet, value=bad),)))
    lying = varint_field(1, 3) + len_field(2, b"a") + varint_field(3, DataType.Int8)
    with pytest.raises(PayloadError, match="num_of_columns"):
        decode_payload(len_field(2, len_field(17, lying)))


def test_template_and_properties_round_trip() -> None:
    inner = Template(
        version="1.0",
        metrics=(Metric(name="speed", datatype=DataType.Float, value=1.5),),
        parameters=(TemplateParameter(name="unit", type=DataType.String, value="rpm"),),
        template_ref="Motor",
        is_definition=False,
    )
    props = PropertySet(
        (
            ("Quality", PropertyValue(DataType.Int32, 192)),
            (
                "nested",
                PropertyValue(
                    DataType.PropertySet,
                    PropertySet((("x", PropertyValue(DataType.Boolean, True)),)),
                ),
            ),
            ("list", PropertyValue(DataType.PropertySetList, (PropertySet(), PropertySet()))),
            ("missing", PropertyValue(DataType.String, None, is_null=True)),
        )
    )
    metric = Metric(name="motor", datatype=DataType.Template, value=inner, properties=props)
    assert decode_payload(encode_payload(SparkplugPayload(metrics=(metric,)))).metrics == (metric,)


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    def nested(depth: int) -> Metric:
        metric = Metric(name="leaf", datatype=DataType.Boolean, value=True)
        for _ in range(depth):
            metric = Metric(name="t", datatype=DataType.Template, value=Template(metrics=(metric,)))
        return metric

    shallow = SparkplugPayload(metrics=(nested(MAX_DEPTH),))
    assert decode_payload(encode_payload(shallow)) == shallow
    with pytest.raises(PayloadError, match="nested deeper"):
        decode_payload(encode_payload(SparkplugPayload(metrics=(nested(MAX_DEPTH + 2),))))


def test_unknown_fields_and_extensions_are_skipped() -> None:
    extra = varint_field(6, 1) + len_field(100, b"extension") + varint_field(19, 7)
    data = encode_payload(SPEC_EXAMPLE) + extra
    assert decode_payload(data) == SPEC_EXAMPLE


def test_a_repeated_singular_field_takes_the_last_value() -> None:
    data = varint_field(3, 1) + varint_field(3, 2)
    assert decode_payload(data).seq == 2
