"""An edge node whose devices are numbered slots: Sparkplug B with nothing kept per device.

An edge node that kept, per device, a record of every metric its birth declared and its latest
value, so that any caller could rebirth it, would cost a few kilobytes per device: too much for
a gateway process carrying a million (docs/DECISIONS.md). Here the edge node keeps only its
counters (:class:`NodeCounters`: bdSeq, seq, born), and the rest is computed:

- Aliases come from the device's slot on its edge node (its place among the connection's
  devices): bdSeq is alias 0, ``Node Control/Rebirth`` alias 1, and the ``k``-th metric of the
  device in slot ``p`` is alias ``2 + p * stride + k``, ``stride`` being the most metrics any
  device of the fleet has. Unique across the edge node, as the specification asks.
- A device's metrics are ``sim/device`` (String), ``sim/seq`` (UInt64), ``sim/ts_ns`` (UInt64),
  then its signals in sample order: the identity, the device's own 64-bit message number and
  its intended send time that ingest accounts with (see :mod:`~.codec`), then the values.
- Births take their values and data types from a sample the caller passes; data messages
  (DDATA, or NDATA from a device that is its own edge node) carry every metric by alias only,
  with no data type (the specification says they should not repeat it)::

      timestamp = ts_ns // 1_000_000
      metrics   = (alias, string device id), (alias, long seq), (alias, long ts_ns),
                  then (alias, value) per signal: bool, double, string, or long for an int
      seq       = the edge node's seq, last

:func:`decode_data` reads such a data message back without its birth (by the place of the
three ``sim/`` metrics), because ingest cannot rely on seeing births: a shared subscription
gives them to whichever worker it picks, and a worker that reconnects has missed them.

Pure: the time is passed in.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import cast

from simulator.errors import InvalidArgumentError, LocalProtocolError, PayloadError
from simulator.payloads.codec import Telemetry, Value
from simulator.payloads.sparkplug.codec import DEVICE, SEQ, TS_NS
from simulator.payloads.sparkplug.datatype import DataType
from simulator.payloads.sparkplug.decoding import decode_payload
from simulator.payloads.sparkplug.model import Metric, SparkplugPayload
from simulator.payloads.sparkplug.payload import encode_payload
from simulator.payloads.sparkplug.wire import decode_varint, encode_varint

BD_SEQ = "bdSeq"
"""The metric that ties an NBIRTH to its NDEATH."""
REBIRTH = "Node Control/Rebirth"
"""The node control metric a host writes true to ask for a rebirth."""
NODE_METRICS = 2
"""Aliases the node's own metrics take (bdSeq 0, rebirth 1) before the first device's."""
SIM_METRICS = 3
"""The ``sim/`` metrics every device has before its signals."""

# The specification's examples show UInt64, but its issue #314 settled bdSeq as Int64, which is
# what the reference implementation sends; hosts read either.
_BD_SEQ_TYPE = DataType.Int64
_DOUBLE = struct.Struct("<d").pack
_UNPACK_DOUBLE = struct.Struct("<d").unpack_from
_TYPE_OF: dict[type, DataType] = {
    bool: DataType.Boolean,
    float: DataType.Double,
    str: DataType.String,
    int: DataType.Int64,
}


class NodeCounters:
    """The per-connection state of an edge node: bdSeq of this session, seq, and born or not."""

    __slots__ = ("bd_seq", "born", "next_bd_seq", "seq")

    def __init__(self, first_bd_seq: int = 0) -> None:
        """No session yet; the first :meth:`new_session` takes ``first_bd_seq``."""
        if not 0 <= first_bd_seq <= 255:
            raise InvalidArgumentError(f"bdSeq must be in 0..255, got {first_bd_seq}")
        self.next_bd_seq = first_bd_seq
        self.bd_seq = -1
        """The current session's bdSeq (-1 before the first)."""
        self.seq = 0
        """The seq the next message of this edge node carries."""
        self.born = False
        """The NBIRTH of this session has been sent."""

    def new_session(self) -> int:
        """A new MQTT connect: take the next bdSeq (0-255, wrapping), unborn; return it."""
        self.bd_seq = bd_seq = self.next_bd_seq
        self.next_bd_seq = (bd_seq + 1) & 0xFF
        self.born = False
        return bd_seq

    def birth(self) -> int:
        """The NBIRTH is going out: seq restarts; return the NBIRTH's seq (0)."""
        if self.bd_seq < 0:
            raise LocalProtocolError("NBIRTH before any session: call new_session() first")
        self.born = True
        self.seq = 1
        return 0

    def take(self) -> int:
        """Return the seq of the next DBIRTH or data message and advance (255 wraps to 0)."""
        if not self.born:
            raise LocalProtocolError("a device message before the NBIRTH of this session")
        seq = self.seq
        self.seq = (seq + 1) & 0xFF
        return seq

    def give_back(self) -> None:
        """The message :meth:`take` numbered was not sent after all (a full inflight window)."""
        self.seq = (self.seq - 1) & 0xFF


def alias_base(slot: int, stride: int) -> int:
    """The alias of the first metric of the device in ``slot``."""
    return NODE_METRICS + slot * stride


def death_payload(bd_seq: int, now_ms: int) -> bytes:
    """The NDEATH: the session's bdSeq, no seq."""
    metric = Metric(name=BD_SEQ, timestamp=now_ms, datatype=_BD_SEQ_TYPE, value=bd_seq)
    return encode_payload(SparkplugPayload(now_ms, (metric,)))


def device_death_payload(seq: int, now_ms: int) -> bytes:
    """A DDEATH: the device is gone while its edge node stays; the node's seq, no metrics."""
    return _encode(SparkplugPayload(now_ms, (), seq))


def node_birth_payload(
    bd_seq: int,
    now_ms: int,
    device: tuple[int, str, int, int, Mapping[str, Value]] | None = None,
) -> bytes:
    """The NBIRTH (seq 0): bdSeq, the rebirth control, and for a device that is its own edge
    node, its metrics (``device`` is ``(alias base, device id, seq, ts_ns, sample)``)."""
    metrics = [
        Metric(name=BD_SEQ, alias=0, timestamp=now_ms, datatype=_BD_SEQ_TYPE, value=bd_seq),
        Metric(name=REBIRTH, alias=1, timestamp=now_ms, datatype=DataType.Boolean, value=False),
    ]
    if device is not None:
        metrics += _device_metrics(now_ms, *device)
    return _encode(SparkplugPayload(now_ms, tuple(metrics), 0))


def device_birth_payload(  # noqa: PLR0917 - the fields of one birth, in message order
    edge_seq: int,
    now_ms: int,
    base: int,
    device_id: str,
    seq: int,
    ts_ns: int,
    sample: Mapping[str, Value],
) -> bytes:
    """A DBIRTH declaring the device's metrics by name, type and alias, valued from ``sample``.

    ``seq`` is the device's next message number and ``ts_ns`` the time of the birth.
    """
    metrics = _device_metrics(now_ms, base, device_id, seq, ts_ns, sample)
    return _encode(SparkplugPayload(now_ms, tuple(metrics), edge_seq))


def _device_metrics(  # noqa: PLR0917 - see device_birth_payload
    now_ms: int, base: int, device_id: str, seq: int, ts_ns: int, sample: Mapping[str, Value]
) -> list[Metric]:
    metrics = [
        Metric(DEVICE, base, now_ms, DataType.String, device_id),
        Metric(SEQ, base + 1, now_ms, DataType.UInt64, seq),
        Metric(TS_NS, base + 2, now_ms, DataType.UInt64, ts_ns),
    ]
    for k, (name, value) in enumerate(sample.items(), SIM_METRICS):
        datatype = _TYPE_OF.get(type(value))
        if datatype is None:
            raise InvalidArgumentError(f"signal {name!r} is a {type(value).__name__}")
        metrics.append(Metric(name, base + k, now_ms, datatype, value))
    return metrics


def data_payload(  # noqa: PLR0917 - the hot path: positional, no record built
    edge_seq: int, base: int, device_id: str, seq: int, ts_ns: int, values: Mapping[str, Value]
) -> bytes:
    """A DDATA or NDATA: the device's metrics by alias, in birth order; see the module doc."""
    device = device_id.encode()
    out = bytearray(b"\x08")
    out += encode_varint(ts_ns // 1_000_000)
    alias = _alias(base)
    _metric(out, alias + b"\x7a" + encode_varint(len(device)) + device)
    _metric(out, _alias(base + 1) + b"\x58" + encode_varint(seq))
    _metric(out, _alias(base + 2) + b"\x58" + encode_varint(ts_ns))
    for alias_number, value in enumerate(values.values(), base + SIM_METRICS):
        kind = type(value)
        if kind is float:
            body = b"\x69" + _DOUBLE(value)
        elif kind is str:
            text = cast(str, value).encode()
            body = b"\x7a" + encode_varint(len(text)) + text
        elif kind is bool:
            body = b"\x70\x01" if value else b"\x70\x00"
        elif kind is int:
            body = b"\x58" + encode_varint(cast(int, value))
        else:
            raise PayloadError(f"a {kind.__name__} value cannot be sent")
        _metric(out, _alias(alias_number) + body)
    out += b"\x18"
    out += encode_varint(edge_seq)
    return bytes(out)


def wants_rebirth(payload: bytes) -> bool:
    """Whether an NCMD payload writes ``Node Control/Rebirth`` true (by name or alias 1)."""
    for metric in decode_payload(payload).metrics:
        if metric.name == REBIRTH or (metric.name is None and metric.alias == 1):
            if type(metric.value) is not bool:
                raise PayloadError(f"{REBIRTH} must carry a Boolean value")
            return metric.value
    return False


def decode_data(data: bytes) -> Telemetry:
    """The device id, seq and send time of a data message :func:`data_payload` wrote.

    The signals are left in the payload (their names are in the birth, which ingest may not
    have seen), so ``values`` is empty. Raises :class:`PayloadError` for anything else.
    """
    fast = _decode_own_layout(data) if type(data) is bytes else None
    return fast if fast is not None else _decode_any_layout(data)


def _decode_own_layout(data: bytes) -> Telemetry | None:
    """Read the exact layout :func:`data_payload` writes in one pass; ``None`` otherwise."""
    try:
        if data[0] != 0x08:
            return None
        timestamp, pos = decode_varint(data, 1)
        sim: list[tuple[int, int, object]] = []
        end = pos
        while data[pos] == 0x12:
            size, pos = decode_varint(data, pos + 1)
            end = pos + size
            if end > len(data) or data[pos] != 0x10:
                return None
            alias, pos = decode_varint(data, pos + 1)
            if len(sim) < SIM_METRICS:
                key = data[pos]
                if key == 0x7A:
                    size, pos = decode_varint(data, pos + 1)
                    value: object = data[pos : pos + size].decode()
                    pos += size
                elif key == 0x58:
                    value, pos = decode_varint(data, pos + 1)
                else:
                    return None
                if pos != end:
                    return None
                sim.append((alias, key, value))
            pos = end
        if data[pos] != 0x18:
            return None
        _, pos = decode_varint(data, pos + 1)
    except (IndexError, UnicodeDecodeError, PayloadError):
        return None
    if pos != len(data) or len(sim) < SIM_METRICS:
        return None
    (a0, k0, device_id), (a1, k1, seq), (a2, k2, ts_ns) = sim
    if (
        (k0, k1, k2) != (0x7A, 0x58, 0x58)
        or (a1, a2) != (a0 + 1, a0 + 2)
        or timestamp != cast(int, ts_ns) // 1_000_000
    ):
        return None
    return Telemetry(cast(str, device_id), cast(int, seq), cast(int, ts_ns), {})


def _decode_any_layout(data: bytes) -> Telemetry:
    """Decode through the general decoder, to say precisely what is wrong (or accept another
    field order with the same meaning)."""
    payload = decode_payload(data)
    metrics = payload.metrics
    if len(metrics) < SIM_METRICS or payload.seq is None:
        raise PayloadError("a data message has a seq and starts with three sim/ metrics")
    device, seq, ts = metrics[:SIM_METRICS]
    if device.alias is None or (seq.alias, ts.alias) != (device.alias + 1, device.alias + 2):
        raise PayloadError("the three sim/ metrics must have consecutive aliases")
    if type(device.value) is not str or type(seq.value) is not int or type(ts.value) is not int:
        raise PayloadError("sim/ metrics must be a string, then two unsigned longs")
    if payload.timestamp != ts.value // 1_000_000:
        raise PayloadError(f"payload timestamp does not match {TS_NS}")
    return Telemetry(device.value, seq.value, ts.value, {})


def _alias(alias: int) -> bytes:
    return b"\x10" + encode_varint(alias)


def _metric(out: bytearray, body: bytes) -> None:
    out += b"\x12"
    out += encode_varint(len(body))
    out += body


def _encode(payload: SparkplugPayload) -> bytes:
    try:
        return encode_payload(payload)
    except PayloadError as exc:
        raise LocalProtocolError(f"cannot encode: {exc}") from None
