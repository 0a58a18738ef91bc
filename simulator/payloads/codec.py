"""The payload interface: one decoded message and the small protocol every codec implements.

A codec turns one telemetry sample into the bytes of an MQTT PUBLISH payload and back. The
device side calls :meth:`PayloadCodec.encode` once per message; the ingest side calls
:meth:`PayloadCodec.decode` once per message and must be able to trust that a bad payload
raises :class:`~simulator.errors.PayloadError` and nothing else.

The interface carries the device id inside the payload. Formats whose payloads do not (Sparkplug
B names the device in the topic) can still implement it by carrying the id as a metric.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple, Protocol

Value = float | int | str | bool
"""One telemetry value: a measurement, a counter, a state name or a flag."""

U64_LIMIT = 1 << 64
"""Sequence numbers and timestamps are unsigned 64-bit integers: ``0 <= n < U64_LIMIT``."""


class Telemetry(NamedTuple):
    """One decoded telemetry message.

    A named tuple because ingest builds one per message: it is the cheapest immutable record
    CPython can construct.
    """

    device_id: str
    """Who sent it."""
    seq: int
    """The device's message sequence number, from 0, unsigned 64-bit."""
    ts_ns: int
    """When the device meant to send it, in nanoseconds since the Unix epoch, unsigned 64-bit."""
    values: Mapping[str, Value]
    """Signal name to value; values are never nested."""


TelemetryFields = tuple[str, int, int, Mapping[str, Value]]
"""A :class:`Telemetry`'s fields as a plain tuple, in its order: what
:meth:`PayloadCodec.decode_all` yields, so a run of messages needs no record each."""


class PayloadCodec(Protocol):
    """Encodes telemetry into payload bytes and decodes it back."""

    name: str
    """The name scenarios use to pick this codec, e.g. ``msgpack``."""
    content_type: str
    """The media type of the payload (MQTT 5 sends it as the content-type property)."""

    def encode(self, device_id: str, seq: int, ts_ns: int, values: Mapping[str, Value]) -> bytes:
        """Return the payload for one message.

        Raises :class:`~simulator.errors.PayloadError` if a field is out of range or of a type the
        format cannot carry, so that whatever encodes also decodes.
        """
        ...

    def encode_sample(
        self, device_id: str, seq: int, ts_ns: int, values: Mapping[str, Value]
    ) -> bytes:
        """:meth:`encode` for one of the fleet's own messages, without checking it first.

        The engine's device ids, sequences and times are in range by construction, and a
        model's sample holds only its declared signals, each a number, state or flag in its
        range (``tests/unit/fleet/test_model_contract.py`` holds every model to it, and to
        giving the same bytes here as :meth:`encode`). What the format itself cannot carry
        still raises :class:`~simulator.errors.PayloadError`. Anything else goes through
        :meth:`encode`.
        """
        ...

    def decode(self, data: bytes) -> Telemetry:
        """Return the message in ``data``.

        Raises :class:`~simulator.errors.PayloadError`, with a short reason, for anything that is
        not exactly one well-formed message: garbage, truncation, trailing bytes, missing or
        unknown keys, wrong types, nested values, out-of-range numbers.
        """
        ...

    def decode_all(self, payloads: Sequence[bytes]) -> Iterable[TelemetryFields] | None:
        """Return every message of ``payloads`` in order, each as :meth:`decode` would, when
        every one of them is a well-formed message; else None.

        None also means this codec decodes a message at a time. On None the caller decodes
        each payload with :meth:`decode`, which says which ones are bad and why: this is only
        the fast path for a run of messages that arrived together.
        """
        ...
