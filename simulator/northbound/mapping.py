"""Reading a gateway's northbound messages back as (device, signal, value) readings.

Pure: a message in, its readings out, as ``[gateway]`` declares them
(:class:`~simulator.scenario.gateway.GatewaySettings`). JSON: the device id from a
``{device}`` topic level or a payload key, values from an object of signal -> value (or one
value per message with a ``{signal}`` level), the gateway's quality field where it has one.
Sparkplug B: DBIRTH and DDATA of the topic's device, metrics by name (the last ``/`` part is
the signal, so ``Modbus/temperature_c`` works) or by the alias its DBIRTH gave the name.
"""

from __future__ import annotations

import contextlib
import json
from typing import NamedTuple

from simulator.errors import PayloadError
from simulator.payloads.sparkplug.decoding import decode_payload
from simulator.scenario.gateway import GatewaySettings, topic_levels

_SPARKPLUG_DATA = frozenset({"DBIRTH", "DDATA"})


class Reading(NamedTuple):
    """One value a gateway published for one signal of one device (a named tuple: a message
    makes one per value, and a tuple is the cheapest typed value to make)."""

    device: str
    signal: str
    value: object
    good: bool = True
    """False when the gateway's own quality field does not vouch for the value."""


def subscription_filter(template: str) -> str:
    """The topic filter of a ``[gateway] topic``: each placeholder level becomes ``+``."""
    return "/".join("+" if level.startswith("{") else level for level in topic_levels(template))


def _dig(document: object, path: str) -> object:
    """The value at dotted ``path`` of a JSON document ("" is the document)."""
    if not path:
        return document
    for key in path.split("."):
        if not isinstance(document, dict) or key not in document:
            raise PayloadError(f"no {path!r} in the payload")
        document = document[key]
    return document


class GatewayMapping:
    """Turns messages into readings, as one ``[gateway]`` table declares."""

    __slots__ = ("_aliases", "_device_level", "_levels", "_signal_level", "filter", "settings")

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        template = settings.topic or (
            "spBv1.0/+/+/+/{device}" if settings.format == "sparkplug" else ""
        )
        self._levels = topic_levels(template)
        self._device_level = self._levels.index("{device}") if "{device}" in template else None
        self._signal_level = self._levels.index("{signal}") if "{signal}" in template else None
        self.filter = subscription_filter(template)
        """What the check subscribes to."""
        self._aliases: dict[tuple[str, str, str], dict[int, str]] = {}
        """Sparkplug: (group, edge node, device) -> alias -> metric name, from DBIRTH."""

    def readings(self, topic: str, payload: bytes) -> list[Reading]:
        """The readings of one message; raises :class:`PayloadError` for one that does not
        have the declared shape (an empty list: a message with nothing to check)."""
        levels = topic.split("/")
        if self._levels[-1] != "#" and len(levels) != len(self._levels):
            raise PayloadError(f"topic {topic!r} does not have the levels of {self.filter!r}")
        if self.settings.format == "sparkplug":
            return self._sparkplug(levels, payload)
        try:
            document = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PayloadError(f"not JSON: {exc}") from None
        settings = self.settings
        if self._device_level is not None:
            device = levels[self._device_level]
        else:
            device = str(_dig(document, settings.device_key))
        quality = None
        if settings.quality:  # a message without it is not flagged
            with contextlib.suppress(PayloadError):
                quality = _dig(document, settings.quality)
        if self._signal_level is not None:
            signal = levels[self._signal_level]
            return [Reading(device, signal, _dig(document, settings.values), self._good(quality))]
        values = _dig(document, settings.values)
        if not isinstance(values, dict):
            raise PayloadError(f"{settings.values or 'the payload'!r} is not an object")
        if isinstance(quality, dict):
            return [
                Reading(device, signal, value, self._good(quality.get(signal)))
                for signal, value in values.items()
            ]
        good = self._good(quality)
        return [Reading(device, signal, value, good) for signal, value in values.items()]

    def _good(self, quality: object) -> bool:
        if not self.settings.quality or quality is None:
            return True
        return str(quality) in self.settings.good_quality

    def _sparkplug(self, levels: list[str], payload: bytes) -> list[Reading]:
        if len(levels) != 5 or levels[0] != "spBv1.0":
            raise PayloadError(f"not a Sparkplug B device topic: {'/'.join(levels)!r}")
        _, group, kind, edge, device = levels
        if kind not in _SPARKPLUG_DATA:
            return []
        decoded = decode_payload(payload)
        key = (group, edge, device)
        aliases = (
            self._aliases.setdefault(key, {}) if kind == "DBIRTH" else self._aliases.get(key, {})
        )
        if kind == "DBIRTH":
            aliases.clear()
        readings = []
        for metric in decoded.metrics:
            name = metric.name
            if name is None and metric.alias is not None:
                name = aliases.get(metric.alias)
            if name is None:
                continue
            if kind == "DBIRTH" and metric.alias is not None:
                aliases[metric.alias] = name
            signal = name.rsplit("/", 1)[-1]
            readings.append(Reading(device, signal, metric.value, not metric.is_null))
        return readings
