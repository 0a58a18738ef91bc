"""Sparkplug B payloads to protobuf bytes, written from ``sparkplug_b.proto``.

Encoding writes fields in field-number order, as protobuf's own serialisers do, and repeated
scalars unpacked, as the proto2 schema declares them; a value that the schema cannot carry
raises :class:`~simulator.errors.PayloadError`. Reading them back is
:func:`~simulator.payloads.sparkplug.decoding.decode_payload`.
"""

from __future__ import annotations

from collections.abc import Mapping

from simulator.errors import PayloadError
from simulator.payloads.sparkplug import fields, model
from simulator.payloads.sparkplug.datatype import (
    DataType,
    ValueKind,
    int_to_wire,
    is_integer,
    kind_of,
)
from simulator.payloads.sparkplug.wire import double_field, float_field, len_field, varint_field

__all__ = ["encode_payload"]


def encode_payload(payload: model.SparkplugPayload) -> bytes:
    """Return the protobuf bytes of ``payload``; raise :class:`PayloadError` if it cannot be."""
    out = bytearray()
    out += _u64_field(1, payload.timestamp, "payload timestamp")
    for metric in payload.metrics:
        out += len_field(2, _encode_metric(metric))
    out += _u64_field(3, payload.seq, "payload seq")
    out += _text_field(4, payload.uuid)
    if payload.body is not None:
        out += len_field(5, _bytes(payload.body))
    return bytes(out)


def _encode_metric(metric: model.Metric) -> bytes:
    out = bytearray()
    out += _text_field(1, metric.name)
    out += _u64_field(2, metric.alias, "alias")
    out += _u64_field(3, metric.timestamp, "metric timestamp")
    out += _datatype_field(4, metric.datatype)
    if metric.is_historical:
        out += varint_field(5, 1)
    if metric.is_transient:
        out += varint_field(6, 1)
    if metric.is_null:
        out += varint_field(7, 1)
    if metric.metadata is not None:
        out += len_field(8, _encode_metadata(metric.metadata))
    if metric.properties is not None:
        out += len_field(9, _encode_property_set(metric.properties))
    if metric.value is not None:
        out += _encode_value(fields.METRIC_VALUES, metric.datatype, metric.value)
    return bytes(out)


def _encode_value(
    fields: Mapping[ValueKind, int], datatype: DataType | None, value: object
) -> bytes:
    kind = kind_of(datatype) if datatype else None
    if kind is None:
        kind = _kind_of_python_value(value)
    field = fields.get(kind)
    if field is None:
        raise PayloadError(f"a {kind.value} is not allowed here")
    if kind is ValueKind.INT or kind is ValueKind.LONG:
        integer_type = datatype if datatype and is_integer(datatype) else DataType.UInt64
        return varint_field(field, int_to_wire(integer_type, value))  # type: ignore[arg-type]
    if kind is ValueKind.BOOLEAN:
        if type(value) is not bool:
            raise PayloadError(f"a Boolean value must be a bool, got {type(value).__name__}")
        return varint_field(field, int(value))
    if kind is ValueKind.FLOAT:
        return float_field(field, _float(value))
    if kind is ValueKind.DOUBLE:
        return double_field(field, _float(value))
    if kind is ValueKind.STRING:
        if type(value) is not str:
            raise PayloadError(f"a string value must be a str, got {type(value).__name__}")
        return len_field(field, _utf8(value))
    if kind is ValueKind.BYTES:
        return len_field(field, _bytes(value))
    return len_field(field, _encode_nested(kind, value))


def _encode_nested(kind: ValueKind, value: object) -> bytes:
    if kind is ValueKind.DATASET and isinstance(value, model.DataSet):
        return _encode_dataset(value)
    if kind is ValueKind.TEMPLATE and isinstance(value, model.Template):
        return _encode_template(value)
    if kind is ValueKind.PROPERTY_SET and isinstance(value, model.PropertySet):
        return _encode_property_set(value)
    if kind is ValueKind.PROPERTY_SET_LIST and type(value) is tuple:
        out = bytearray()
        for item in value:
            if not isinstance(item, model.PropertySet):
                raise PayloadError("a PropertySetList holds PropertySets only")
            out += len_field(1, _encode_property_set(item))
        return bytes(out)
    raise PayloadError(f"a {kind.value} cannot hold a {type(value).__name__}")


_PYTHON_KINDS: dict[type, ValueKind] = {
    bool: ValueKind.BOOLEAN,
    int: ValueKind.LONG,
    float: ValueKind.DOUBLE,
    str: ValueKind.STRING,
    bytes: ValueKind.BYTES,
    model.DataSet: ValueKind.DATASET,
    model.Template: ValueKind.TEMPLATE,
    model.PropertySet: ValueKind.PROPERTY_SET,
    tuple: ValueKind.PROPERTY_SET_LIST,
}


def _kind_of_python_value(value: object) -> ValueKind:
    kind = _PYTHON_KINDS.get(type(value))
    if kind is None:
        raise PayloadError(f"cannot encode a {type(value).__name__} value")
    return kind


def _encode_metadata(meta: model.MetaData) -> bytes:
    out = bytearray()
    if meta.is_multi_part is not None:
        out += varint_field(1, int(meta.is_multi_part))
    out += _text_field(2, meta.content_type)
    out += _u64_field(3, meta.size, "metadata size")
    out += _u64_field(4, meta.seq, "metadata seq")
    texts = (meta.file_name, meta.file_type, meta.md5, meta.description)
    for field, text in enumerate(texts, start=5):
        out += _text_field(field, text)
    return bytes(out)


def _encode_property_set(props: model.PropertySet) -> bytes:
    out = bytearray()
    for key, _ in props.items:
        out += len_field(1, _utf8(key))
    for _, value in props.items:
        out += len_field(2, _encode_property_value(value))
    return bytes(out)


def _encode_property_value(prop: model.PropertyValue) -> bytes:
    out = bytearray()
    out += _datatype_field(1, prop.type)
    if prop.is_null:
        out += varint_field(2, 1)
    if prop.value is not None:
        out += _encode_value(fields.PROPERTY_VALUES, prop.type, prop.value)
    return bytes(out)


def _encode_dataset(dataset: model.DataSet) -> bytes:
    width = len(dataset.columns)
    if len(dataset.types) != width or any(len(row) != width for row in dataset.rows):
        raise PayloadError("a DataSet needs one type per column and one cell per column per row")
    out = bytearray(varint_field(1, width))
    for column in dataset.columns:
        out += len_field(2, _utf8(column))
    for datatype in dataset.types:
        out += varint_field(3, _datatype(datatype))
    for row in dataset.rows:
        elements = bytearray()
        for datatype, cell in zip(dataset.types, row, strict=True):
            body = b"" if cell is None else _encode_value(fields.CELL_VALUES, datatype, cell)
            elements += len_field(1, body)
        out += len_field(4, bytes(elements))
    return bytes(out)


def _encode_template(template: model.Template) -> bytes:
    out = bytearray()
    out += _text_field(1, template.version)
    for metric in template.metrics:
        out += len_field(2, _encode_metric(metric))
    for parameter in template.parameters:
        body = bytearray()
        body += _text_field(1, parameter.name)
        body += _datatype_field(2, parameter.type)
        if parameter.value is not None:
            body += _encode_value(fields.PARAMETER_VALUES, parameter.type, parameter.value)
        out += len_field(3, bytes(body))
    out += _text_field(4, template.template_ref)
    if template.is_definition is not None:
        out += varint_field(5, int(template.is_definition))
    return bytes(out)


def _u64_field(field: int, value: int | None, what: str) -> bytes:
    """An optional unsigned 64-bit field: nothing when ``value`` is None."""
    return b"" if value is None else varint_field(field, _u64(value, what))


def _text_field(field: int, text: str | None) -> bytes:
    """An optional string field: nothing when ``text`` is None."""
    return b"" if text is None else len_field(field, _utf8(text))


def _datatype_field(field: int, datatype: DataType | None) -> bytes:
    """An optional data type field: nothing when ``datatype`` is None."""
    return b"" if datatype is None else varint_field(field, _datatype(datatype))


def _u64(value: int, what: str) -> int:
    if type(value) is not int or not 0 <= value < 1 << 64:
        raise PayloadError(f"{what} must be an unsigned 64-bit int, got {value!r}")
    return value


def _datatype(datatype: DataType) -> int:
    try:
        return int(DataType(datatype))
    except ValueError:
        raise PayloadError(f"unknown Sparkplug data type {datatype!r}") from None


def _float(value: object) -> float:
    if type(value) is float:
        return value
    if type(value) is int:
        return float(value)
    raise PayloadError(f"a floating-point value must be a float, got {type(value).__name__}")


def _utf8(text: str) -> bytes:
    if type(text) is not str:
        raise PayloadError(f"expected a str, got {type(text).__name__}")
    try:
        return text.encode()
    except UnicodeEncodeError:
        raise PayloadError("a string holds a lone surrogate, which UTF-8 cannot carry") from None


def _bytes(value: object) -> bytes:
    if type(value) is not bytes:
        raise PayloadError(f"expected bytes, got {type(value).__name__}")
    return value
