"""Protobuf bytes to Sparkplug B payloads, written from ``sparkplug_b.proto``.

Decoding follows the rules a conforming protobuf parser follows (unknown fields and extensions
skipped, a repeated scalar may arrive packed or not, the last of a repeated singular field wins)
and is strict where a lenient parse would hide a broken payload: a field of the wrong wire type,
invalid UTF-8, an unknown data type, a value in a field its data type does not use, mismatched
array lengths, nesting deeper than :data:`MAX_DEPTH`. Every such failure is a
:class:`~simulator.errors.PayloadError`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from simulator.errors import PayloadError
from simulator.payloads.sparkplug import fields, model
from simulator.payloads.sparkplug.datatype import (
    DataType,
    ValueKind,
    int_from_wire,
    is_integer,
    kind_of,
)
from simulator.payloads.sparkplug.wire import (
    U32_MASK,
    WireType,
    decode_packed_varints,
    iter_fields,
    unpack_double,
    unpack_float,
)

MAX_DEPTH = 32
"""Deepest nesting of templates and property sets decoded; deeper is refused, not recursed."""


def decode_payload(data: bytes) -> model.SparkplugPayload:
    """Return the payload in ``data``; raise :class:`PayloadError` if it is malformed."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise PayloadError(f"a payload is bytes, got {type(data).__name__}")
    timestamp = seq = uuid = body = None
    metrics = []
    for field, wire_type, value in iter_fields(bytes(data)):
        if field == 1:
            timestamp = _varint(wire_type, value, "payload timestamp")
        elif field == 2:
            metrics.append(_decode_metric(_len(wire_type, value, "metric"), 0))
        elif field == 3:
            seq = _varint(wire_type, value, "payload seq")
        elif field == 4:
            uuid = _text(_len(wire_type, value, "uuid"))
        elif field == 5:
            body = _len(wire_type, value, "body")
    return model.SparkplugPayload(timestamp, tuple(metrics), seq, uuid, body)


def _decode_metric(data: bytes, depth: int) -> model.Metric:
    name = metadata = properties = None
    alias = timestamp = None
    datatype: DataType | None = None
    flags = [False, False, False]
    found: tuple[ValueKind, WireType, int | bytes] | None = None
    for field, wire_type, value in iter_fields(data):
        if field == 1:
            name = _text(_len(wire_type, value, "metric name"))
        elif field == 2:
            alias = _varint(wire_type, value, "alias")
        elif field == 3:
            timestamp = _varint(wire_type, value, "metric timestamp")
        elif field == 4:
            datatype = _decode_datatype(_varint(wire_type, value, "datatype"))
        elif 5 <= field <= 7:
            flags[field - 5] = bool(_varint(wire_type, value, "metric flag"))
        elif field == 8:
            metadata = _decode_metadata(_len(wire_type, value, "metadata"))
        elif field == 9:
            properties = _decode_property_set(_len(wire_type, value, "properties"), depth + 1)
        elif 10 <= field <= 18:
            found = (_METRIC_KINDS[field], wire_type, value)
    return model.Metric(
        name,
        alias,
        timestamp,
        datatype,
        _decode_value(datatype, found, depth),
        flags[0],
        flags[1],
        flags[2],
        metadata,
        properties,
    )


_METRIC_KINDS = {field: kind for kind, field in fields.METRIC_VALUES.items()}
_PROPERTY_KINDS = {field: kind for kind, field in fields.PROPERTY_VALUES.items()}
_PARAMETER_KINDS = {field: kind for kind, field in fields.PARAMETER_VALUES.items()}
_CELL_KINDS = {field: kind for kind, field in fields.CELL_VALUES.items()}


def _decode_value(
    datatype: DataType | None,
    found: tuple[ValueKind, WireType, int | bytes] | None,
    depth: int,
) -> Any:
    # Any: the value's type depends on the data type, which each caller's record narrows.
    if found is None:
        return None
    kind, wire_type, raw = found
    expected_wire = fields.WIRE_TYPE_OF_KIND.get(kind, WireType.LEN)
    if wire_type != expected_wire:
        raise PayloadError(f"{kind.value} has wire type {wire_type.name}")
    declared = kind_of(datatype) if datatype else None
    integer = kind is ValueKind.INT or kind is ValueKind.LONG
    if declared is not None and declared is not kind:
        mixed_ints = integer and declared in (ValueKind.INT, ValueKind.LONG)
        if not mixed_ints:
            raise PayloadError(f"a {datatype.name} value arrived in {kind.value}")  # type: ignore[union-attr]
    if integer:
        assert isinstance(raw, int)
        if datatype is not None and is_integer(datatype):
            return int_from_wire(datatype, raw, kind)
        return raw & U32_MASK if kind is ValueKind.INT else raw
    if kind is ValueKind.BOOLEAN:
        return bool(raw)
    assert isinstance(raw, bytes)
    return _DECODE_RAW_KIND[kind](raw, depth)


def _decode_metadata(data: bytes) -> model.MetaData:
    values: dict[int, object] = {}
    for field, wire_type, value in iter_fields(data):
        if field in (1, 3, 4):
            values[field] = _varint(wire_type, value, "metadata field")
        elif 2 <= field <= 8:
            values[field] = _text(_len(wire_type, value, "metadata field"))
    multi_part = values.get(1)
    return model.MetaData(
        None if multi_part is None else bool(multi_part),
        values.get(2),  # type: ignore[arg-type]
        values.get(3),  # type: ignore[arg-type]
        values.get(4),  # type: ignore[arg-type]
        values.get(5),  # type: ignore[arg-type]
        values.get(6),  # type: ignore[arg-type]
        values.get(7),  # type: ignore[arg-type]
        values.get(8),  # type: ignore[arg-type]
    )


def _decode_property_set(data: bytes, depth: int) -> model.PropertySet:
    _check_depth(depth)
    keys: list[str] = []
    values: list[model.PropertyValue] = []
    for field, wire_type, value in iter_fields(data):
        if field == 1:
            keys.append(_text(_len(wire_type, value, "property key")))
        elif field == 2:
            values.append(_decode_property_value(_len(wire_type, value, "property"), depth))
    if len(keys) != len(values):
        raise PayloadError(f"a PropertySet has {len(keys)} keys but {len(values)} values")
    return model.PropertySet(tuple(zip(keys, values, strict=True)))


def _decode_property_value(data: bytes, depth: int) -> model.PropertyValue:
    datatype: DataType | None = None
    is_null = False
    found: tuple[ValueKind, WireType, int | bytes] | None = None
    for field, wire_type, value in iter_fields(data):
        if field == 1:
            datatype = _decode_datatype(_varint(wire_type, value, "property type"))
        elif field == 2:
            is_null = bool(_varint(wire_type, value, "property is_null"))
        elif 3 <= field <= 10:
            found = (_PROPERTY_KINDS[field], wire_type, value)
    return model.PropertyValue(datatype, _decode_value(datatype, found, depth + 1), is_null)


def _decode_property_set_list(data: bytes, depth: int) -> tuple[model.PropertySet, ...]:
    _check_depth(depth)
    return tuple(
        _decode_property_set(_len(wire_type, value, "property set"), depth + 1)
        for field, wire_type, value in iter_fields(data)
        if field == 1
    )


def _decode_dataset(data: bytes, _depth: int) -> model.DataSet:
    width: int | None = None
    columns: list[str] = []
    types: list[DataType] = []
    row_bodies: list[bytes] = []
    for field, wire_type, value in iter_fields(data):
        if field == 1:
            width = _varint(wire_type, value, "num_of_columns")
        elif field == 2:
            columns.append(_text(_len(wire_type, value, "column")))
        elif field == 3:
            raw_types = [value] if wire_type == WireType.VARINT else None
            if raw_types is None:
                raw_types = decode_packed_varints(_len(wire_type, value, "types"))  # type: ignore[assignment]
            types.extend(_decode_datatype(raw & U32_MASK) for raw in raw_types)  # type: ignore[operator, union-attr]
        elif field == 4:
            row_bodies.append(_len(wire_type, value, "row"))
    if width is None:
        width = len(columns)
    if not width == len(columns) == len(types):
        raise PayloadError(
            f"a DataSet has num_of_columns {width}, {len(columns)} columns, {len(types)} types"
        )
    return model.DataSet(
        tuple(columns), tuple(types), tuple(_decode_row(b, types) for b in row_bodies)
    )


def _decode_row(data: bytes, types: list[DataType]) -> tuple[model.DataSetCell, ...]:
    cells: list[model.DataSetCell] = []
    for field, wire_type, value in iter_fields(data):
        if field != 1:
            continue
        if len(cells) == len(types):
            raise PayloadError("a DataSet row has more cells than columns")
        found = None
        for cell_field, cell_wire, cell_value in iter_fields(_len(wire_type, value, "cell")):
            if cell_field in _CELL_KINDS:
                found = (_CELL_KINDS[cell_field], cell_wire, cell_value)
        cells.append(_decode_value(types[len(cells)], found, 0))
    if len(cells) != len(types):
        raise PayloadError("a DataSet row has fewer cells than columns")
    return tuple(cells)


def _decode_template(data: bytes, depth: int) -> model.Template:
    _check_depth(depth)
    version = template_ref = None
    is_definition: bool | None = None
    metrics: list[model.Metric] = []
    parameters: list[model.TemplateParameter] = []
    for field, wire_type, value in iter_fields(data):
        if field == 1:
            version = _text(_len(wire_type, value, "template version"))
        elif field == 2:
            metrics.append(_decode_metric(_len(wire_type, value, "template metric"), depth + 1))
        elif field == 3:
            parameters.append(_decode_parameter(_len(wire_type, value, "parameter")))
        elif field == 4:
            template_ref = _text(_len(wire_type, value, "template_ref"))
        elif field == 5:
            is_definition = bool(_varint(wire_type, value, "is_definition"))
    return model.Template(version, tuple(metrics), tuple(parameters), template_ref, is_definition)


def _decode_parameter(data: bytes) -> model.TemplateParameter:
    name = None
    datatype: DataType | None = None
    found: tuple[ValueKind, WireType, int | bytes] | None = None
    for field, wire_type, value in iter_fields(data):
        if field == 1:
            name = _text(_len(wire_type, value, "parameter name"))
        elif field == 2:
            datatype = _decode_datatype(_varint(wire_type, value, "parameter type"))
        elif 3 <= field <= 8:
            found = (_PARAMETER_KINDS[field], wire_type, value)
    return model.TemplateParameter(name, datatype, _decode_value(datatype, found, 0))


def _decode_string(raw: bytes, _depth: int) -> str:
    return _text(raw)


def _decode_bytes(raw: bytes, _depth: int) -> bytes:
    return raw


def _decode_float(raw: bytes, _depth: int) -> float:
    return unpack_float(raw)


def _decode_double(raw: bytes, _depth: int) -> float:
    return unpack_double(raw)


_DECODE_RAW_KIND: dict[ValueKind, Callable[[bytes, int], Any]] = {
    ValueKind.FLOAT: _decode_float,
    ValueKind.DOUBLE: _decode_double,
    ValueKind.STRING: _decode_string,
    ValueKind.BYTES: _decode_bytes,
    ValueKind.DATASET: _decode_dataset,
    ValueKind.TEMPLATE: _decode_template,
    ValueKind.PROPERTY_SET: _decode_property_set,
    ValueKind.PROPERTY_SET_LIST: _decode_property_set_list,
}


def _check_depth(depth: int) -> None:
    if depth > MAX_DEPTH:
        raise PayloadError(f"templates or property sets nested deeper than {MAX_DEPTH}")


def _decode_datatype(raw: int) -> DataType:
    try:
        return DataType(raw)
    except ValueError:
        raise PayloadError(f"unknown Sparkplug data type {raw}") from None


def _varint(wire_type: WireType, value: int | bytes, what: str) -> int:
    if wire_type != WireType.VARINT:
        raise PayloadError(f"{what} has wire type {wire_type.name}, expected VARINT")
    return value  # type: ignore[return-value]


def _len(wire_type: WireType, value: int | bytes, what: str) -> bytes:
    if wire_type != WireType.LEN:
        raise PayloadError(f"{what} has wire type {wire_type.name}, expected LEN")
    return value  # type: ignore[return-value]


def _text(raw: bytes) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise PayloadError("a string field is not valid UTF-8") from None
