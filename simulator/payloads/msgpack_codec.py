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
            obj = msgpack.unpackb(data, raw=False, strict_map_key=True, use_list=True)
        except (ValueError, TypeError) as exc:
            # ValueError covers msgpack's own errors (ExtraData, FormatError, StackError,
            # OutOfData) and invalid UTF-8; TypeError a non-buffer argument.
            raise PayloadError(f"not a msgpack message: {type(exc).__name__}") from None
        return telemetry_from_map(obj)
