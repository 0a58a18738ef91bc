"""The short-key message map (see :mod:`simulator.payloads.short_map`) as compact UTF-8 JSON.

Slower and larger than msgpack, but readable with any MQTT client. Strict JSON only: encoding a
NaN or infinite float raises :class:`~simulator.errors.PayloadError`, and decoding rejects the
``NaN``/``Infinity`` extensions, floats that overflow to infinity, and any encoding but UTF-8.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence

from simulator.errors import PayloadError
from simulator.payloads.codec import Telemetry, TelemetryFields, Value
from simulator.payloads.short_map import MapEncoding, telemetry_from_map


def _reject_constant(name: str) -> float:
    raise PayloadError(f"not a JSON message: {name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise PayloadError("not a JSON message: a number overflows a 64-bit float")
    return value


_ENCODER = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, check_circular=False, separators=(",", ":")
)
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


class JsonCodec(MapEncoding):
    """Telemetry as a compact JSON object."""

    __slots__ = ()

    name = "json"
    content_type = "application/json"

    def encode_sample(
        self, device_id: str, seq: int, ts_ns: int, values: Mapping[str, Value]
    ) -> bytes:
        """:meth:`encode` without the message check (see :meth:`PayloadCodec.encode_sample`)."""
        message = {"id": device_id, "seq": seq, "ts": ts_ns, "v": values}
        try:
            return _ENCODER.encode(message).encode()
        except UnicodeEncodeError:
            raise PayloadError("cannot encode as JSON: a string holds a lone surrogate") from None
        except ValueError as exc:
            raise PayloadError(f"cannot encode as JSON: {exc}") from None

    def decode(self, data: bytes) -> Telemetry:
        """Return the message in a JSON payload, or raise :class:`PayloadError`."""
        try:
            # Decoding explicitly: json.loads(bytes) would also accept UTF-16 and UTF-32.
            obj = _DECODER.decode(data.decode())
        except (ValueError, TypeError, AttributeError, RecursionError) as exc:
            # ValueError covers JSONDecodeError, invalid UTF-8 and oversized integer literals.
            raise PayloadError(f"not a JSON message: {type(exc).__name__}") from None
        return telemetry_from_map(obj)

    def decode_all(self, payloads: Sequence[bytes]) -> Iterable[TelemetryFields] | None:
        """None: this codec decodes a message at a time (see :meth:`PayloadCodec.decode_all`)."""
        return None
