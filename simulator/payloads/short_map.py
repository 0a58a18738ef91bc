"""The short-key map that the msgpack and JSON codecs both put on the wire.

One message is one map with exactly four keys, kept short because they are repeated in every
payload::

    {"id": "ms-000042",            # device id, a string
     "seq": 17,                    # sequence number, unsigned 64-bit
     "ts": 1735689600000000000,    # intended send time, ns since the Unix epoch, unsigned 64-bit
     "v": {"temperature_c": 41.5,  # signal name -> number, string or boolean; never nested
           "state": "running"}}

Integer values must fit in 64 bits (signed or unsigned), as msgpack requires. Both codecs decode
to plain Python objects first and then call :func:`telemetry_from_map`, so the two formats accept
and reject exactly the same messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from simulator.errors import PayloadError
from simulator.payloads.codec import U64_LIMIT, Telemetry, Value

KEYS = ("id", "seq", "ts", "v")
"""The keys of a message map, in the order they are written."""

I64_MIN = -(1 << 63)
"""The smallest integer value a message may carry (the largest is ``U64_LIMIT - 1``)."""

# ``type(x) in ...`` instead of isinstance: it is faster, and a subclass (an IntEnum, say) would
# encode but come back as its base type, breaking the round trip.
_SCALARS = frozenset((float, int, str, bool))

# NamedTuple's generated __new__ is Python code; building the tuple directly skips that frame,
# which is a tenth of the decode cost.
_new_telemetry = tuple.__new__


def to_map(device_id: str, seq: int, ts_ns: int, values: Mapping[str, Value]) -> dict[str, Any]:
    """Check one message's fields and return the map to serialise.

    Raises :class:`PayloadError` for anything :func:`telemetry_from_map` would reject, so that a
    message that encodes always decodes.
    """
    if type(values) is not dict:
        values = dict(values)
    message = {"id": device_id, "seq": seq, "ts": ts_ns, "v": values}
    if not _is_valid(device_id, seq, ts_ns, values):
        raise PayloadError(problem(message) or "invalid message")
    return message


class MapEncoding:
    """What the two map codecs share: :meth:`encode` checks the message, then writes it with
    the codec's own :meth:`encode_sample`, which does not check."""

    __slots__ = ()

    def encode(self, device_id: str, seq: int, ts_ns: int, values: Mapping[str, Value]) -> bytes:
        """Return the payload for one message; :class:`PayloadError` if it is not one."""
        checked = to_map(device_id, seq, ts_ns, values)["v"]  # a dict, whatever the mapping
        return self.encode_sample(device_id, seq, ts_ns, checked)

    def encode_sample(
        self, device_id: str, seq: int, ts_ns: int, values: Mapping[str, Value]
    ) -> bytes:
        """Write the message unchecked (see :meth:`PayloadCodec.encode_sample`)."""
        raise NotImplementedError


def telemetry_from_map(obj: Any) -> Telemetry:
    """Return the message held in a decoded map, or raise :class:`PayloadError` saying why not."""
    if type(obj) is dict and len(obj) == 4:
        device_id = obj.get("id")
        seq = obj.get("seq")
        ts_ns = obj.get("ts")
        values = obj.get("v")
        if _is_valid(device_id, seq, ts_ns, values):
            return _new_telemetry(Telemetry, (device_id, seq, ts_ns, values))
    raise PayloadError(problem(obj) or "invalid message")


def _is_valid(device_id: Any, seq: Any, ts_ns: Any, values: Any) -> bool:
    # Only yes or no, as fast as CPython allows: this runs for every message ingest receives.
    if not (
        type(device_id) is str
        and type(seq) is int
        and type(ts_ns) is int
        and 0 <= seq < U64_LIMIT
        and 0 <= ts_ns < U64_LIMIT
        and type(values) is dict
    ):
        return False
    for name, value in values.items():
        kind = type(value)
        if (
            type(name) is not str
            or kind not in _SCALARS
            or (kind is int and not I64_MIN <= value < U64_LIMIT)
        ):
            return False
    return True


def problem(obj: Any) -> str | None:
    """Say briefly why ``obj`` is not a valid message map (``None`` if it is one).

    The slow twin of the decoder's fast check, used only to word the error; a test holds the two
    to the same verdict. Untrusted values are named by type, never echoed.
    """
    if type(obj) is not dict:
        return f"payload must be a map, got {_kind(obj)}"
    missing = [key for key in KEYS if key not in obj]
    unknown = [key for key in obj if key not in KEYS]
    if missing or unknown:
        return _key_problem(missing, unknown)
    if type(obj["id"]) is not str:
        return f"'id' must be a string, got {_kind(obj['id'])}"
    for key in ("seq", "ts"):
        value = obj[key]
        if type(value) is not int or not 0 <= value < U64_LIMIT:
            got = "out of range" if type(value) is int else _kind(value)
            return f"'{key}' must be an unsigned 64-bit integer, got {got}"
    values = obj["v"]
    if type(values) is not dict:
        return f"'v' must be a map, got {_kind(values)}"
    for name, value in values.items():
        if type(name) is not str:
            return f"signal names must be strings, got {_kind(name)}"
        if type(value) not in _SCALARS:
            return f"value {name[:40]!r} is {_kind(value)}; it must be a number, string or boolean"
        if type(value) is int and not I64_MIN <= value < U64_LIMIT:
            return f"value {name[:40]!r} does not fit in 64 bits"
    return None


def _key_problem(missing: list[str], unknown: list[Any]) -> str:
    parts = []
    if missing:
        parts.append("missing " + ", ".join(repr(key) for key in missing))
    if unknown:
        shown = ", ".join(repr(key)[:40] for key in unknown[:3])
        parts.append(f"unknown {shown}" + (" ..." if len(unknown) > 3 else ""))
    return "; ".join(parts) + f" (a message has exactly {', '.join(KEYS)})"


_KINDS = {
    int: "an integer",
    float: "a float",
    str: "a string",
    bool: "a boolean",
    bytes: "binary data",
    list: "an array",
    tuple: "an array",
    dict: "a map",
    type(None): "null",
}


def _kind(value: object) -> str:
    return _KINDS.get(type(value), f"a {type(value).__name__}")
