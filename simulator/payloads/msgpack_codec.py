"""The default codec: the short-key message map (see :mod:`simulator.payloads.short_map`) as
MessagePack.

Strings are written as msgpack ``str`` and binary as ``bin`` (``use_bin_type``), so a decoder in
any language sees the device id and state names as text. Decoding rejects non-string map keys
(``strict_map_key``) and anything ``unpackb`` refuses: truncation, trailing bytes, invalid UTF-8,
excessive nesting. A typical machine-sensor message is about 110 bytes.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgpack

from simulator.errors import PayloadError
from simulator.payloads.codec import Telemetry, Value
from simulator.payloads.short_map import telemetry_from_map, to_map

_unpackb = msgpack.unpackb
_SCALARS = frozenset((float, int, str, bool))
"""The types a signal's value may have (``type(x) in``, so a bool is not taken for an int)."""
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
            # msgpack >= 1.0's defaults are what this codec wants, and cheaper than passing
            # them for every message: raw=False (str as text), strict_map_key=True (map keys
            # only str or bytes), use_list=True.
            obj = _unpackb(data)
        except (ValueError, TypeError) as exc:
            # ValueError covers msgpack's own errors (ExtraData, FormatError, StackError,
            # OutOfData) and invalid UTF-8; TypeError a non-buffer argument.
            raise PayloadError(f"not a msgpack message: {type(exc).__name__}") from None
        # The checks of telemetry_from_map, inline because every ingested message passes here,
        # less those msgpack makes for us: its integers always fit in 64 bits. Whatever fails
        # them goes to telemetry_from_map, which gives the same verdict and says why.
        if type(obj) is dict and len(obj) == 4:
            device_id = obj.get("id")
            seq = obj.get("seq")
            ts_ns = obj.get("ts")
            values = obj.get("v")
            if (
                type(device_id) is str
                and type(seq) is int
                and type(ts_ns) is int
                and seq >= 0
                and ts_ns >= 0
                and type(values) is dict
            ):
                for name, value in values.items():
                    if type(name) is not str or type(value) not in _SCALARS:
                        break
                else:
                    return _new_telemetry(Telemetry, (device_id, seq, ts_ns, values))
        return telemetry_from_map(obj)
