"""Which payload codecs exist, by the name a scenario uses for them."""

from __future__ import annotations

from collections.abc import Callable

from simulator.errors import PayloadError
from simulator.payloads.codec import PayloadCodec
from simulator.payloads.json_codec import JsonCodec
from simulator.payloads.msgpack_codec import MsgpackCodec
from simulator.payloads.sparkplug.codec import SparkplugCodec

DEFAULT_CODEC = MsgpackCodec.name
"""The codec a scenario gets when it names none."""

_FACTORIES: dict[str, Callable[[], PayloadCodec]] = {
    MsgpackCodec.name: MsgpackCodec,
    JsonCodec.name: JsonCodec,
    SparkplugCodec.name: SparkplugCodec,
}


def codec_names() -> tuple[str, ...]:
    """Names of every codec, the default first."""
    return tuple(_FACTORIES)


def get_codec(name: str) -> PayloadCodec:
    """Return a new codec instance by name; raises :class:`PayloadError` naming the allowed ones.

    Each call returns its own instance because a codec may keep a reusable buffer.
    """
    try:
        factory = _FACTORIES[name]
    except KeyError:
        allowed = ", ".join(_FACTORIES)
        raise PayloadError(f"unknown payload codec {name!r}; allowed: {allowed}") from None
    return factory()
