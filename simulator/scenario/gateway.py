"""The scenario tables of a gateway test: ``[gateway]`` (what the gateway under test publishes
north, and how to read a device, a signal and a value back out of it) and
``[[southbound.faults]]`` (what goes wrong on the south side, and when).

Kept apart from :mod:`simulator.scenario.schema`, which holds the run's own tables; strict in
the same way (:class:`~simulator.scenario.table.Table`: unknown keys, wrong types and values
out of range are errors naming the key).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from simulator.scenario.table import Table

GATEWAY_PLACEHOLDERS = ("device", "signal")
"""What a ``[gateway] topic`` level may name: the device's id, and the signal's name."""

FAULT_KINDS = ("silent", "slow", "exception", "restart")
"""What a ``[[southbound.faults]]`` entry may make happen."""

EXCEPTION_CODES = (1, 2, 3, 4, 6, 10, 11)
"""Modbus exception codes a faulty device may answer with (specification section 7)."""


def topic_levels(template: str) -> list[str]:
    """The levels of a ``[gateway] topic``: literal, ``+``, ``#`` (last) or a placeholder."""
    return template.split("/")


def _check_gateway_topic(value: str) -> str:
    if not value:
        return value
    levels = topic_levels(value)
    seen: set[str] = set()
    for number, level in enumerate(levels):
        if "{" in level or "}" in level:
            name = level[1:-1]
            if not (level.startswith("{") and level.endswith("}")) or (
                name not in GATEWAY_PLACEHOLDERS
            ):
                raise ValueError(
                    f"level {level!r} must be a whole level {{device}} or {{signal}}, "
                    "a literal, + or a final #"
                )
            if name in seen:
                raise ValueError(f"must name {{{name}}} once")
            seen.add(name)
        elif level == "#" and number != len(levels) - 1:
            raise ValueError("may have # only as its last level")
        elif ("+" in level and level != "+") or ("#" in level and level != "#"):
            raise ValueError(f"level {level!r}: + and # must be whole levels")
    return value


class GatewaySettings(Table):
    """``[gateway]``: the gateway under test's northbound output, read back to be checked
    against the southbound fleet's ground truth (``factory-sim southbound --broker``).

    A message is mapped to (device, signal, value) triples: the device id is a ``{device}``
    level of ``topic`` or the payload's ``device_key``; each signal's value is in the object at
    ``values`` (signal name -> value), or, with a ``{signal}`` level in the topic, at ``values``
    itself ("" for a payload that is the bare value). Device ids are the simulator's (the hint
    file lists them) and signal names the models' (the register maps list them)."""

    topic: Annotated[str, AfterValidator(_check_gateway_topic)] = ""
    """Where the gateway publishes, as a topic with ``{device}`` (and maybe ``{signal}``)
    levels, e.g. ``plant/{device}/data``; the check subscribes to it with ``+`` for each."""
    format: Literal["json", "sparkplug"] = "json"
    """``json``, or ``sparkplug`` (Sparkplug B DDATA/DBIRTH: the topic's device id level,
    metrics named after signals, a name's last ``/`` part being the signal)."""
    values: str = "values"
    """JSON: the key of the object of signal -> value ("" for the top level), or with
    ``{signal}`` in the topic the key of the value ("" for a bare value). Dots descend:
    ``data.values``."""
    device_key: str = ""
    """JSON: the key of the device id when it is in the payload, not the topic."""
    quality: str = ""
    """JSON: the key of the gateway's own quality field ("" when it has none): a string for
    the whole message, or an object of signal -> quality. Values not of a good quality are
    counted as flagged, not checked."""
    good_quality: list[str] = Field(default_factory=lambda: ["good"], min_length=1)
    """The quality strings that vouch for a value."""
    max_staleness_ms: Annotated[int, Field(ge=1, le=3_600_000)] = 2000
    """A value is correct when it equals the ground truth at some instant within this long
    before it arrived; older truth is stale; none is wrong."""
    qos: Annotated[int, Field(ge=0, le=1)] = 0
    """The QoS the check subscribes with."""

    @model_validator(mode="after")
    def _device_somewhere(self) -> GatewaySettings:
        if self.topic and "{device}" not in self.topic and not self.device_key:
            raise ValueError("name the device: a {device} level in topic, or device_key")
        if self.format == "sparkplug" and ("{signal}" in self.topic or self.device_key):
            raise ValueError(
                "sparkplug names the device in the topic and the signals in the metrics: "
                "no {signal} level, no device_key"
            )
        return self


class SouthboundFaultSettings(Table):
    """One ``[[southbound.faults]]`` entry: from ``at_s`` for ``duration_s`` seconds, the chosen
    devices fall ``silent`` (read, never answered), answer ``slow`` (after ``delay_ms``) or
    answer with exception ``code``; ``restart`` closes every endpoint and connection and
    listens again after ``duration_s``."""

    at_s: Annotated[float, Field(ge=0.0, le=604_800.0)]
    """Seconds after the server's epoch (when it starts serving)."""
    kind: Literal["silent", "slow", "exception", "restart"]
    duration_s: Annotated[float, Field(gt=0.0, le=604_800.0)]
    devices: list[Annotated[int, Field(ge=0)]] = Field(default_factory=list)
    """Fleet indexes of the devices (the hint file's ``index``)."""
    share: Annotated[float | None, Field(gt=0.0, le=1.0)] = None
    """Instead of ``devices``: this share of the fleet, chosen from the seed."""
    delay_ms: Annotated[int, Field(ge=1, le=600_000)] | None = None
    """``slow``: how late each answer is."""
    code: int | None = None
    """``exception``: the exception code answered (default 11, gateway target failed to
    respond; allowed: 1, 2, 3, 4, 6, 10, 11)."""

    @model_validator(mode="after")
    def _consistent(self) -> SouthboundFaultSettings:
        chosen = bool(self.devices) + (self.share is not None)
        if self.kind == "restart":
            if chosen:
                raise ValueError("restart stops the whole server: give no devices or share")
        elif chosen != 1:
            raise ValueError(f"{self.kind} needs devices (fleet indexes) or share, one of them")
        if (self.delay_ms is not None) != (self.kind == "slow"):
            raise ValueError("delay_ms goes with kind = slow, and slow needs it")
        if self.code is not None:
            if self.kind != "exception":
                raise ValueError("code goes with kind = exception only")
            if self.code not in EXCEPTION_CODES:
                raise ValueError(
                    f"code must be one of {', '.join(map(str, EXCEPTION_CODES))}; got {self.code}"
                )
        return self
