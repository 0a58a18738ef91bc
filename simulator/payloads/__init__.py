"""Payload codecs: telemetry samples to PUBLISH payload bytes and back.

Every codec implements the small :class:`PayloadCodec` protocol and is looked up by name with
:func:`get_codec`; msgpack is the default, JSON the readable alternative. Decoding raises
:class:`~simulator.errors.PayloadError` and nothing else, whatever the bytes.
"""

from simulator.payloads.codec import U64_LIMIT, PayloadCodec, Telemetry, Value
from simulator.payloads.registry import DEFAULT_CODEC, codec_names, get_codec

__all__ = [
    "DEFAULT_CODEC",
    "U64_LIMIT",
    "PayloadCodec",
    "Telemetry",
    "Value",
    "codec_names",
    "get_codec",
]
