"""Decoding a stream that mixes payload formats: the format is told by the first byte.

A plant mixes formats (msgpack from one kind of machine, JSON from another, Sparkplug B from
gateways), and one ingest worker subscribes to all of it. The formats start differently: a
msgpack telemetry map starts with a map header (``0x80``-``0x8f``, ``0xde``, ``0xdf``), JSON
with ``{`` (or white space), and a Sparkplug B payload with a protobuf field key. Anything
else is handed to Sparkplug's decoder, which refuses it with a :class:`PayloadError` like any
malformed payload.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from simulator.errors import PayloadError
from simulator.payloads.codec import Telemetry, TelemetryFields
from simulator.payloads.json_codec import JsonCodec
from simulator.payloads.msgpack_codec import MsgpackCodec
from simulator.payloads.sparkplug.codec import SparkplugCodec

AUTO = "auto"
"""The decoder name that detects the format per message."""

_MSGPACK_MAP = frozenset(range(0x80, 0x90)) | {0xDE, 0xDF}
_JSON_START = frozenset(b"{ \t\r\n")


class DetectingDecoder:
    """Decodes msgpack, JSON and Sparkplug B telemetry, choosing by the first byte."""

    name = AUTO

    def __init__(self) -> None:
        self._msgpack = MsgpackCodec()
        self._json = JsonCodec()
        self._sparkplug = SparkplugCodec()

    def decode(self, data: bytes) -> Telemetry:
        """Decode ``data`` in whichever format it is; :class:`PayloadError` if none fits."""
        if not data:
            raise PayloadError("empty payload")
        first = data[0]
        if first in _MSGPACK_MAP:
            return self._msgpack.decode(data)
        if first in _JSON_START:
            return self._json.decode(data)
        return self._sparkplug.decode(data)

    def decode_all(self, payloads: Sequence[bytes]) -> Iterable[TelemetryFields] | None:
        """None: this decoder decodes a message at a time (see :meth:`PayloadCodec.decode_all`)."""
        return None
