"""The default codec: the short-key message map (see :mod:`simulator.payloads.short_map`) as
MessagePack.

Strings are written as msgpack ``str`` and binary as ``bin``, so a decoder in any language sees
the device id and state names as text; msgspec packs (the same bytes as msgpack's ``Packer``
with ``use_bin_type``, in two thirds of the time). Decoding rejects non-string map keys and
anything ``unpackb`` refuses: truncation, trailing bytes, invalid UTF-8, excessive nesting. A
typical machine-sensor message is about 110 bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Annotated

import msgpack
import msgspec

from simulator.errors import PayloadError
from simulator.payloads.codec import Telemetry, TelemetryFields, Value
from simulator.payloads.short_map import MapEncoding, telemetry_from_map

_unpackb = msgpack.unpackb
_new_telemetry = tuple.__new__
"""Builds a Telemetry without its NamedTuple ``__new__``, a Python frame per message."""


class MsgpackCodec(MapEncoding):
    """Telemetry as a MessagePack map."""

    __slots__ = ("_pack",)

    name = "msgpack"
    content_type = "application/msgpack"

    def __init__(self) -> None:
        # One encoder per codec instance, not shared between threads: each caller gets its
        # own codec from get_codec().
        self._pack = msgspec.msgpack.Encoder().encode

    def encode_sample(
        self, device_id: str, seq: int, ts_ns: int, values: Mapping[str, Value]
    ) -> bytes:
        """:meth:`encode` without the message check (see :meth:`PayloadCodec.encode_sample`):
        0.5 against 1.4 µs for a machine-sensor sample (``timeit``, best of 7)."""
        try:
            packed: bytes = self._pack({"id": device_id, "seq": seq, "ts": ts_ns, "v": values})
        except (TypeError, ValueError, OverflowError) as exc:
            raise PayloadError(f"cannot encode as msgpack: {exc}") from None
        return packed

    def decode(self, data: bytes) -> Telemetry:
        """Return the message in a MessagePack payload, or raise :class:`PayloadError`."""
        try:
            message = _decode_message(data)
        except msgspec.DecodeError:
            return _decode_checking(data)
        return _new_telemetry(Telemetry, (message.id, message.seq, message.ts, message.v))

    def decode_all(self, payloads: Sequence[bytes]) -> Iterable[TelemetryFields] | None:
        """Decode a run of payloads in one call: put together as the elements of one msgpack
        array, they are decoded by msgspec in C without a Python call each (0.87 against
        1.12 µs a message with the ingest worker's rows built, docs/PERFORMANCE.md).

        Put together, the payloads' boundaries are lost, and a bad payload could borrow bytes
        from the next one and still read as well-formed: so the array is first read as raw
        extents, and each element must span exactly its own payload. None when one does not,
        or when any element is not a message (the caller then decodes each alone).
        """
        count = len(payloads)
        data = b"".join((_ARRAY32, count.to_bytes(4, "big"), *payloads))
        try:
            if list(map(len, _extents(data))) != list(map(len, payloads)):
                return None
            messages = _decode_messages(data)
        except msgspec.DecodeError:
            return None
        return map(_fields, messages)


class _Message(msgspec.Struct, forbid_unknown_fields=True):
    """The message map as msgspec reads and checks it in one pass, in C: every ingested
    message is decoded here, at a quarter of the cost of ``unpackb`` and checks in Python
    (``bench/ingest_replay.py``, docs/PERFORMANCE.md). What it refuses goes to
    :func:`_decode_checking`, which gives the verdict of :func:`telemetry_from_map` and says
    why."""

    id: str
    seq: Annotated[int, msgspec.Meta(ge=0)]
    ts: Annotated[int, msgspec.Meta(ge=0)]
    v: dict[str, bool | int | float | str]


_decode_message = msgspec.msgpack.Decoder(_Message).decode
_decode_messages = msgspec.msgpack.Decoder(list[_Message]).decode
_extents = msgspec.msgpack.Decoder(list[msgspec.Raw]).decode
"""Each element's bytes, unparsed: where it starts and ends in the array."""
_fields: Callable[[_Message], TelemetryFields] = msgspec.structs.astuple  # (id, seq, ts, v)
_ARRAY32 = b"\xdd"
"""msgpack's array header with a 32-bit count."""


def _decode_checking(data: bytes) -> Telemetry:
    """Decode with ``unpackb`` and check in Python: the verdict, and the reason for a no."""
    try:
        # msgpack >= 1.0's defaults are what this codec wants: raw=False (str as text),
        # strict_map_key=True (map keys only str or bytes), use_list=True.
        obj = _unpackb(data)
    except (ValueError, TypeError) as exc:
        # ValueError covers msgpack's own errors (ExtraData, FormatError, StackError,
        # OutOfData) and invalid UTF-8; TypeError a non-buffer argument.
        raise PayloadError(f"not a msgpack message: {type(exc).__name__}") from None
    return telemetry_from_map(obj)
