"""The default codec: the short-key message map (see :mod:`simulator.payloads.short_map`) as
MessagePack.

Strings are written as msgpack ``str`` and binary as ``bin`` (``use_bin_type``), so a decoder in
any language sees the device id and state names as text. Decoding rejects non-string map keys
and anything ``unpackb`` refuses: truncation, trailing bytes, invalid UTF-8,
excessive nesting. A typical machine-sensor message is about 110 bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import msgpack
import msgspec

from simulator.errors import PayloadError
from simulator.payloads.codec import Telemetry, Value
from simulator.payloads.short_map import telemetry_from_map, to_map

_unpackb = msgpack.unpackb
_new_telemetry = tuple.__new__
"""Builds a Telemetry without its NamedTuple ``__new__``, a Python frame per message."""


class MsgpackCodec:
    """Telemetry as a MessagePack map."""

    __slots__ = ("_pack",)

    name = "msgpack"
    content_type = "application/msgpack"

    def __init__(self) -> None:
        # One Packer per codec instance reuses its internal buffer across messages; it is not
        # shared between threads because each caller gets its own codec from get_codec().
        self._pack = msgpack.Packer(use_bin_type=True, autoreset=True).pack

    def encode(self, device_id: str, seq: int, ts_ns: int, values: Mapping[str, Value]) -> bytes:
        """Return the MessagePack payload for one message."""
        message = to_map(device_id, seq, ts_ns, values)
        try:
            packed: bytes = self._pack(message)
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
