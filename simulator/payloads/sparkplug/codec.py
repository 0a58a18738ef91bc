"""Telemetry as Sparkplug B payloads: the ``sparkplug`` :class:`~simulator.payloads.PayloadCodec`.

Sparkplug names the device in the topic and numbers messages 0-255 per edge node, but ingest
accounting needs the device id, a 64-bit sequence number and the nanosecond send time in the
payload. So each message is one Sparkplug B payload whose first three metrics carry them::

    timestamp = ts_ns // 1_000_000                 (the payload time, ms, as Sparkplug wants)
    metrics   = sim/device (String), sim/seq (UInt64), sim/ts_ns (UInt64),
                then one metric per value, by name: bool -> Boolean, float -> Double,
                str -> String, int -> Int64 (UInt64 from 2**63 up)
    seq       = seq % 256                          (the Sparkplug sequence number)

Metrics carry names, not aliases, and no per-metric timestamp: a payload decodes on its own,
without a birth certificate. The edge node that speaks full Sparkplug (births, aliases,
rebirth) is :mod:`simulator.payloads.sparkplug.slotted_node`.

The three ``sim/`` metrics are known by their place, first, so a value may have any name, even
one of theirs. Decoding checks their names and types, that the payload time and seq agree with
them, and that every later metric is a named, non-null number, string or boolean, named once.
The payload ``seq`` is written last, so any truncation at a field boundary drops it and is
refused like a truncation inside a field.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import cast

from simulator.errors import PayloadError
from simulator.payloads.codec import U64_LIMIT, Telemetry, TelemetryFields, Value
from simulator.payloads.sparkplug.datatype import DataType, is_integer
from simulator.payloads.sparkplug.decoding import decode_payload
from simulator.payloads.sparkplug.model import Metric
from simulator.payloads.sparkplug.wire import decode_varint, encode_varint, to_signed64

DEVICE = "sim/device"
"""The metric carrying the device id."""
SEQ = "sim/seq"
"""The metric carrying the device's 64-bit message sequence number."""
TS_NS = "sim/ts_ns"
"""The metric carrying the intended send time in nanoseconds."""

_I64_MIN = -(1 << 63)
_I64_LIMIT = 1 << 63
_DOUBLE = struct.Struct("<d").pack
_UNPACK_DOUBLE = struct.Struct("<d").unpack_from


def _metric_prefix(name: str, datatype: DataType) -> bytes:
    """The name and datatype fields of a metric, which are the same in every message."""
    name_bytes = name.encode()
    return b"\x0a" + encode_varint(len(name_bytes)) + name_bytes + b"\x20" + bytes((datatype,))


_DEVICE_PREFIX = _metric_prefix(DEVICE, DataType.String) + b"\x7a"  # string_value, field 15
_SEQ_PREFIX = _metric_prefix(SEQ, DataType.UInt64) + b"\x58"  # long_value, field 11
_TS_PREFIX = _metric_prefix(TS_NS, DataType.UInt64) + b"\x58"
# After a metric's name field: the datatype field and the key of the value field.
_AFTER_NAME = {
    bool: b"\x20" + bytes((DataType.Boolean,)) + b"\x70",  # boolean_value, field 14
    float: b"\x20" + bytes((DataType.Double,)) + b"\x69",  # double_value, field 13
    str: b"\x20" + bytes((DataType.String,)) + b"\x7a",  # string_value, field 15
}
_INT64_AFTER_NAME = b"\x20" + bytes((DataType.Int64,)) + b"\x58"
_UINT64_AFTER_NAME = b"\x20" + bytes((DataType.UInt64,)) + b"\x58"
_TEXT_TYPES = frozenset((DataType.String, DataType.Text, DataType.UUID))
_FLOAT_TYPES = frozenset((DataType.Float, DataType.Double))
_SCALARS = frozenset((int, float, bool, str))


class SparkplugCodec:
    """Telemetry as a self-describing Sparkplug B payload."""

    __slots__ = ()

    name = "sparkplug"
    content_type = "application/protobuf"

    def encode(self, device_id: str, seq: int, ts_ns: int, values: Mapping[str, Value]) -> bytes:
        """Return the Sparkplug B payload for one message."""
        if type(seq) is not int or not 0 <= seq < U64_LIMIT:
            raise PayloadError(f"seq must be an unsigned 64-bit int, got {seq!r}")
        if type(ts_ns) is not int or not 0 <= ts_ns < U64_LIMIT:
            raise PayloadError(f"ts_ns must be an unsigned 64-bit int, got {ts_ns!r}")
        out = bytearray(b"\x08")
        out += encode_varint(ts_ns // 1_000_000)
        _metric(out, _DEVICE_PREFIX + _text(device_id, "device id"))
        _metric(out, _SEQ_PREFIX + encode_varint(seq))
        _metric(out, _TS_PREFIX + encode_varint(ts_ns))
        for name, value in values.items():
            if type(name) is not str:
                raise PayloadError(f"signal names must be strings, got {type(name).__name__}")
            _metric(out, b"\x0a" + _text(name, "signal name") + _value(name, value))
        out += b"\x18"
        out += encode_varint(seq & 0xFF)
        return bytes(out)

    def encode_sample(
        self, device_id: str, seq: int, ts_ns: int, values: Mapping[str, Value]
    ) -> bytes:
        """:meth:`encode` itself: its checks are made as each field is written, not in a pass
        of their own (see :meth:`PayloadCodec.encode_sample`)."""
        return self.encode(device_id, seq, ts_ns, values)

    def decode(self, data: bytes) -> Telemetry:
        """Return the message in a Sparkplug B payload, or raise :class:`PayloadError`."""
        fast = _decode_own_layout(data) if type(data) is bytes else None
        return fast if fast is not None else _decode_any_layout(data)

    def decode_all(self, payloads: Sequence[bytes]) -> Iterable[TelemetryFields] | None:
        """None: this codec decodes a message at a time (see :meth:`PayloadCodec.decode_all`)."""
        return None


def _decode_any_layout(data: bytes) -> Telemetry:
    """Decode through the general payload decoder: any field order, any scalar data type."""
    payload = decode_payload(data)
    metrics = payload.metrics
    if len(metrics) < 3:
        raise PayloadError(f"a message starts with the metrics {DEVICE}, {SEQ}, {TS_NS}")
    # The data types checked fix the Python types: String decodes to str, UInt64 to int.
    device_id = cast(str, _sim_value(metrics[0], DEVICE, DataType.String))
    seq = cast(int, _sim_value(metrics[1], SEQ, DataType.UInt64))
    ts_ns = cast(int, _sim_value(metrics[2], TS_NS, DataType.UInt64))
    if payload.timestamp != ts_ns // 1_000_000:
        raise PayloadError(f"payload timestamp does not match {TS_NS}")
    if payload.seq != seq & 0xFF:
        raise PayloadError(f"payload seq does not match {SEQ}")
    values: dict[str, Value] = {}
    for metric in metrics[3:]:
        name = metric.name
        if name is None:
            raise PayloadError("a metric has no name (aliases need a birth certificate)")
        if name in values:
            raise PayloadError(f"metric {name[:40]!r} appears twice")
        values[name] = _telemetry_value(name, metric)
    return Telemetry(device_id, seq, ts_ns, values)


def _decode_own_layout(data: bytes) -> Telemetry | None:
    """Decode the exact layout :meth:`SparkplugCodec.encode` writes, fast; ``None`` otherwise.

    Ingest decodes every message, and the general decoder builds a record per metric. This reads
    the bytes in one pass, and leaves anything else (another field order, other fields or data
    types, a malformed byte) to :func:`_decode_any_layout`, which accepts exactly what this does
    with the same result (a test holds the two to it) and words the errors.
    """
    try:
        if data[0] != 0x08:
            return None
        timestamp, pos = decode_varint(data, 1)
        metrics: list[tuple[str, int, Value]] = []
        while data[pos] == 0x12:
            size, pos = decode_varint(data, pos + 1)
            end = pos + size
            if data[pos] != 0x0A or end > len(data):
                return None
            size, pos = decode_varint(data, pos + 1)
            name = data[pos : pos + size].decode()
            pos += size
            if pos + 3 > end or data[pos] != 0x20:
                return None
            datatype = data[pos + 1]
            value, pos = _OWN_VALUE_READERS[datatype, data[pos + 2]](data, pos + 3, end)
            if pos != end:
                return None
            metrics.append((name, datatype, value))
        if data[pos] != 0x18:
            return None
        payload_seq, pos = decode_varint(data, pos + 1)
    except (IndexError, KeyError, UnicodeDecodeError, PayloadError, struct.error):
        return None
    if pos != len(data) or len(metrics) < 3:
        return None
    (device_name, device_type, device_id), (seq_name, seq_type, seq), (ts_name, ts_type, ts_ns) = (
        metrics[:3]
    )
    if (
        (device_name, seq_name, ts_name) != (DEVICE, SEQ, TS_NS)
        or (device_type, seq_type, ts_type) != (DataType.String, DataType.UInt64, DataType.UInt64)
        or timestamp != ts_ns // 1_000_000  # type: ignore[operator]
        or payload_seq != seq & 0xFF  # type: ignore[operator]
    ):
        return None
    values = {name: value for name, _, value in metrics[3:]}
    if len(values) != len(metrics) - 3:
        return None
    return Telemetry(device_id, seq, ts_ns, values)  # type: ignore[arg-type]


def _read_double(data: bytes, pos: int, _end: int) -> tuple[Value, int]:
    value: float = _UNPACK_DOUBLE(data, pos)[0]
    return value, pos + 8


def _read_uint64(data: bytes, pos: int, _end: int) -> tuple[Value, int]:
    return decode_varint(data, pos)


def _read_int64(data: bytes, pos: int, _end: int) -> tuple[Value, int]:
    value, pos = decode_varint(data, pos)
    return to_signed64(value), pos


def _read_boolean(data: bytes, pos: int, _end: int) -> tuple[Value, int]:
    value, pos = decode_varint(data, pos)
    return bool(value), pos


def _read_string(data: bytes, pos: int, end: int) -> tuple[Value, int]:
    size, pos = decode_varint(data, pos)
    if pos + size > end:
        raise PayloadError("string runs past its metric")
    return data[pos : pos + size].decode(), pos + size


# (datatype, key of the value field) -> reader, for the layouts encode() writes.
_OWN_VALUE_READERS: dict[tuple[int, int], Callable[[bytes, int, int], tuple[Value, int]]] = {
    (DataType.Double, 0x69): _read_double,
    (DataType.UInt64, 0x58): _read_uint64,
    (DataType.Int64, 0x58): _read_int64,
    (DataType.Boolean, 0x70): _read_boolean,
    (DataType.String, 0x7A): _read_string,
}


def _metric(out: bytearray, body: bytes) -> None:
    out += b"\x12"
    out += encode_varint(len(body))
    out += body


def _text(text: object, what: str) -> bytes:
    """A length-prefixed UTF-8 string."""
    if type(text) is not str:
        raise PayloadError(f"{what} must be a string, got {type(text).__name__}")
    try:
        raw = text.encode()
    except UnicodeEncodeError:
        raise PayloadError(f"{what} holds a lone surrogate, which UTF-8 cannot carry") from None
    return encode_varint(len(raw)) + raw


def _value(name: str, value: object) -> bytes:
    """The datatype and value fields of one signal."""
    kind = type(value)
    if kind is bool:
        return _AFTER_NAME[bool] + (b"\x01" if value else b"\x00")
    if kind is float:
        return _AFTER_NAME[float] + _DOUBLE(value)
    if kind is str:
        return _AFTER_NAME[str] + _text(value, f"value {name[:40]!r}")
    if kind is int:
        if _I64_MIN <= value < _I64_LIMIT:  # type: ignore[operator]
            return _INT64_AFTER_NAME + encode_varint(value)  # type: ignore[arg-type]
        if value < U64_LIMIT:  # type: ignore[operator]
            return _UINT64_AFTER_NAME + encode_varint(value)  # type: ignore[arg-type]
        raise PayloadError(f"value {name[:40]!r} does not fit in 64 bits")
    raise PayloadError(
        f"value {name[:40]!r} is a {kind.__name__}; it must be a number, string or boolean"
    )


def _sim_value(metric: Metric, name: str, datatype: DataType) -> object:
    if metric.name != name:
        raise PayloadError(f"a message starts with the metrics {DEVICE}, {SEQ}, {TS_NS}")
    if metric.datatype is not datatype or metric.value is None:
        got = "no data type" if metric.datatype is None else metric.datatype.name
        raise PayloadError(f"{name!r} must be a {datatype.name} value, got {got}")
    return metric.value


def _telemetry_value(name: str, metric: Metric) -> Value:
    datatype = metric.datatype
    value = metric.value
    if metric.is_null or value is None:
        raise PayloadError(f"metric {name[:40]!r} has no value")
    kind = type(value)
    if datatype is None or datatype is DataType.Unknown:
        ok = kind in _SCALARS
    elif is_integer(datatype):
        ok = kind is int
    elif datatype in _FLOAT_TYPES:
        ok = kind is float
    elif datatype is DataType.Boolean:
        ok = kind is bool
    else:
        ok = datatype in _TEXT_TYPES
    if not ok:
        got = "no data type" if datatype is None else datatype.name
        raise PayloadError(f"metric {name[:40]!r} ({got}) is not a number, string or boolean")
    return value  # type: ignore[return-value]
