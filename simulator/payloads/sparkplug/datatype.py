"""Sparkplug B data types and how each one's value travels in the protobuf ``oneof value``.

The enum values are the specification's. Every value-carrying message (Metric, PropertyValue,
Template.Parameter, DataSet.DataSetValue) has the same choice of wire fields, so one table says
which :class:`ValueKind` a data type uses and one pair of functions converts the integers.

Signed integers: the schema only has ``uint32``/``uint64`` fields. ``Int64`` is written as its
64-bit two's complement. ``Int8``/``Int16``/``Int32`` are written as two's complement of their own
width (``Int8`` -1 is 255), which every decoder we know reads back; when decoding we also accept
the value sign-extended to 32 bits (-1 as 4294967295), which some producers send.

Array types (``Int8Array`` ... ``DateTimeArray``) travel as their packed little-endian bytes;
this module leaves them as ``bytes``.
"""

from __future__ import annotations

from enum import Enum, IntEnum

from simulator.errors import PayloadError
from simulator.payloads.sparkplug.wire import U32_MASK, U64_MASK, to_signed64


class DataType(IntEnum):
    """A Sparkplug B data type, numbered as in the specification."""

    Unknown = 0
    Int8 = 1
    Int16 = 2
    Int32 = 3
    Int64 = 4
    UInt8 = 5
    UInt16 = 6
    UInt32 = 7
    UInt64 = 8
    Float = 9
    Double = 10
    Boolean = 11
    String = 12
    DateTime = 13
    Text = 14
    UUID = 15
    DataSet = 16
    Bytes = 17
    File = 18
    Template = 19
    PropertySet = 20
    PropertySetList = 21
    Int8Array = 22
    Int16Array = 23
    Int32Array = 24
    Int64Array = 25
    UInt8Array = 26
    UInt16Array = 27
    UInt32Array = 28
    UInt64Array = 29
    FloatArray = 30
    DoubleArray = 31
    BooleanArray = 32
    StringArray = 33
    DateTimeArray = 34


class ValueKind(Enum):
    """Which member of a ``oneof value`` carries a value."""

    INT = "int_value"
    LONG = "long_value"
    FLOAT = "float_value"
    DOUBLE = "double_value"
    BOOLEAN = "boolean_value"
    STRING = "string_value"
    BYTES = "bytes_value"
    DATASET = "dataset_value"
    TEMPLATE = "template_value"
    PROPERTY_SET = "propertyset_value"
    PROPERTY_SET_LIST = "propertysets_value"


_KIND_BY_TYPE = {
    DataType.Int8: ValueKind.INT,
    DataType.Int16: ValueKind.INT,
    DataType.Int32: ValueKind.INT,
    DataType.UInt8: ValueKind.INT,
    DataType.UInt16: ValueKind.INT,
    DataType.UInt32: ValueKind.INT,
    DataType.Int64: ValueKind.LONG,
    DataType.UInt64: ValueKind.LONG,
    DataType.DateTime: ValueKind.LONG,
    DataType.Float: ValueKind.FLOAT,
    DataType.Double: ValueKind.DOUBLE,
    DataType.Boolean: ValueKind.BOOLEAN,
    DataType.String: ValueKind.STRING,
    DataType.Text: ValueKind.STRING,
    DataType.UUID: ValueKind.STRING,
    DataType.Bytes: ValueKind.BYTES,
    DataType.File: ValueKind.BYTES,
    DataType.DataSet: ValueKind.DATASET,
    DataType.Template: ValueKind.TEMPLATE,
    DataType.PropertySet: ValueKind.PROPERTY_SET,
    DataType.PropertySetList: ValueKind.PROPERTY_SET_LIST,
} | {datatype: ValueKind.BYTES for datatype in DataType if datatype >= DataType.Int8Array}

# (lowest, highest + 1, bits) of each integer type's values.
_INT_RANGES = {
    DataType.Int8: (-(1 << 7), 1 << 7, 8),
    DataType.Int16: (-(1 << 15), 1 << 15, 16),
    DataType.Int32: (-(1 << 31), 1 << 31, 32),
    DataType.Int64: (-(1 << 63), 1 << 63, 64),
    DataType.UInt8: (0, 1 << 8, 8),
    DataType.UInt16: (0, 1 << 16, 16),
    DataType.UInt32: (0, 1 << 32, 32),
    DataType.UInt64: (0, 1 << 64, 64),
    DataType.DateTime: (0, 1 << 64, 64),
}


def kind_of(datatype: DataType) -> ValueKind | None:
    """The wire field a data type's value uses (``None`` for ``Unknown``)."""
    return _KIND_BY_TYPE.get(datatype)


def is_integer(datatype: DataType) -> bool:
    """Whether values of ``datatype`` are Python ints."""
    return datatype in _INT_RANGES


def int_to_wire(datatype: DataType, value: int) -> int:
    """Return the unsigned wire integer for an integer-typed value; raise if out of range."""
    low, high, bits = _INT_RANGES[datatype]
    if type(value) is not int or not low <= value < high:
        raise PayloadError(
            f"{datatype.name} value must be an int in [{low}, {high}), got {value!r}"
        )
    return value & ((1 << bits) - 1)


def int_from_wire(datatype: DataType, raw: int, kind: ValueKind) -> int:
    """Return the value an integer-typed field holds; raise if it does not fit the type.

    Accepts either integer field, since older producers put ``UInt32`` in ``long_value``.
    """
    low, _, bits = _INT_RANGES[datatype]
    raw &= U32_MASK if kind is ValueKind.INT else U64_MASK
    if low == 0:
        if raw >> bits:
            raise PayloadError(f"{datatype.name} value {raw} out of range")
        return raw
    if bits == 64:
        return to_signed64(raw)
    if raw >> bits:
        # Sign-extended to 32 bits: every bit above the sign bit must be set.
        if kind is not ValueKind.INT or raw >> (bits - 1) != U32_MASK >> (bits - 1):
            raise PayloadError(f"{datatype.name} value {raw} out of range")
        raw &= (1 << bits) - 1
    return raw - (1 << bits) if raw >> (bits - 1) else raw
