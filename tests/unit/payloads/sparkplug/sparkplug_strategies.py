"""Hypothesis strategies for Sparkplug B payloads, shared by the payload and interop tests."""

from __future__ import annotations

from hypothesis import strategies as st

from simulator.payloads.sparkplug import (
    DataType,
    MetaData,
    Metric,
    PropertySet,
    PropertyValue,
    SparkplugPayload,
)
from simulator.payloads.sparkplug.model import Scalar

u64 = st.integers(min_value=0, max_value=(1 << 64) - 1)
names = st.text(max_size=12)


def _ints(bits: int, signed: bool) -> st.SearchStrategy[int]:
    if signed:
        return st.integers(min_value=-(1 << (bits - 1)), max_value=(1 << (bits - 1)) - 1)
    return st.integers(min_value=0, max_value=(1 << bits) - 1)


SCALAR_VALUES: dict[DataType, st.SearchStrategy[Scalar]] = {
    DataType.Int8: _ints(8, signed=True),
    DataType.Int16: _ints(16, signed=True),
    DataType.Int32: _ints(32, signed=True),
    DataType.Int64: _ints(64, signed=True),
    DataType.UInt8: _ints(8, signed=False),
    DataType.UInt16: _ints(16, signed=False),
    DataType.UInt32: _ints(32, signed=False),
    DataType.UInt64: u64,
    DataType.DateTime: u64,
    # NaN would not compare equal to itself; its round trip is tested on its own.
    DataType.Float: st.floats(width=32, allow_nan=False),
    DataType.Double: st.floats(allow_nan=False),
    DataType.Boolean: st.booleans(),
    DataType.String: st.text(max_size=12),
    DataType.Text: st.text(max_size=12),
    DataType.UUID: st.uuids().map(str),
    DataType.Bytes: st.binary(max_size=12),
    DataType.File: st.binary(max_size=12),
    DataType.Int32Array: st.binary(max_size=12).map(lambda b: b[: len(b) // 4 * 4]),
}
"""Every scalar data type with the values it can carry."""

PROPERTY_TYPES = [t for t in SCALAR_VALUES if t < DataType.UUID]


@st.composite
def typed_values(draw: st.DrawFn, types: list[DataType]) -> tuple[DataType, Scalar]:
    datatype = draw(st.sampled_from(types))
    return datatype, draw(SCALAR_VALUES[datatype])


@st.composite
def property_sets(draw: st.DrawFn) -> PropertySet:
    items = []
    for key in draw(st.lists(names, max_size=3)):
        datatype, value = draw(typed_values(PROPERTY_TYPES))
        items.append((key, PropertyValue(datatype, value)))
    return PropertySet(tuple(items))


metadata = st.builds(
    MetaData,
    is_multi_part=st.none() | st.booleans(),
    content_type=st.none() | names,
    size=st.none() | u64,
    seq=st.none() | u64,
    file_name=st.none() | names,
    md5=st.none() | names,
)


@st.composite
def metrics(draw: st.DrawFn, with_extras: bool = True) -> Metric:
    datatype, value = draw(typed_values(list(SCALAR_VALUES)))
    is_null = draw(st.booleans()) if draw(st.integers(0, 9)) == 0 else False
    return Metric(
        name=draw(st.none() | names),
        alias=draw(st.none() | u64),
        timestamp=draw(st.none() | u64),
        datatype=datatype,
        value=None if is_null else value,
        is_historical=draw(st.booleans()),
        is_transient=draw(st.booleans()),
        is_null=is_null,
        metadata=draw(st.none() | metadata) if with_extras else None,
        properties=draw(st.none() | property_sets()) if with_extras else None,
    )


def payloads(with_extras: bool = True) -> st.SearchStrategy[SparkplugPayload]:
    """Payloads of scalar metrics; ``with_extras`` adds metadata, properties, uuid and body."""
    extras = st.none() | (names if with_extras else st.none())
    return st.builds(
        SparkplugPayload,
        timestamp=st.none() | u64,
        metrics=st.lists(metrics(with_extras), max_size=5).map(tuple),
        seq=st.none() | st.integers(0, 255),
        uuid=extras,
        body=st.none() | (st.binary(max_size=8) if with_extras else st.none()),
    )
