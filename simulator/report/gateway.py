"""The ``gateway`` section of a report: what the northbound check found (its schema, as types).

Written by :mod:`simulator.northbound.check`; declared here so that thresholds
(``gateway.values.wrong == 0``) know its numeric keys, as they know every other section's.
Lists and plain dicts are examples, free form, and hold no threshold keys.
"""

from __future__ import annotations

from typing import Any, TypedDict


class GatewayMessages(TypedDict):
    received: int
    retained: int
    """Retained messages the broker sent on subscribing: from before the check, not checked."""
    unparsed: int
    """Messages that did not have the declared shape (not JSON, no ``values`` object...)."""
    readings: int


class GatewayDevices(TypedDict):
    expected: int
    seen: int
    missing: int
    missing_examples: list[str]
    unknown: int
    """Device ids published that the fleet does not have."""
    unknown_examples: list[str]


class GatewayTags(TypedDict):
    expected: int
    seen: int
    missing: int
    unknown: int
    """Signals published for a known device that its model does not have."""
    unknown_examples: list[str]


class GatewayValues(TypedDict):
    checked: int
    """correct + stale + wrong."""
    correct: int
    stale: int
    wrong: int
    flagged: int
    """Values the gateway's quality field did not vouch for (not checked)."""
    wrong_tags: dict[str, int]
    """``device/signal`` -> wrong values published for it."""
    wrong_examples: list[dict[str, Any]]
    stale_examples: list[dict[str, Any]]


class GatewayLatency(TypedDict):
    count: int
    """Changes whose first arrival was measured."""
    p50: float | None
    p99: float | None
    max: float | None


class GatewayGaps(TypedDict):
    max_ms: float | None
    """The longest time between two messages of one device, or from its last one to the end."""
    devices_over_staleness: int
    """Devices with a gap longer than ``max_staleness_ms``."""
    worst: list[dict[str, Any]]


class GatewayFaultDetection(TypedDict):
    max: float | None
    p50: float | None


class GatewayFault(TypedDict):
    number: int
    kind: str
    start_s: float
    end_s: float
    devices: int
    detected: int
    """Devices whose northbound data went stale, stopped or was flagged during the fault."""
    undetected: int
    detected_after_s: GatewayFaultDetection
    reactions: dict[str, int]
    """``flagged`` (the gateway's quality field), ``stale`` (old or wrong values), ``stopped``
    (no good value for longer than the allowed staleness) -> devices."""
    undetected_examples: list[str]


class GatewaySection(TypedDict):
    """What the gateway under test published, against the southbound ground truth."""

    topic: str
    max_staleness_ms: int
    duration_s: float
    messages: GatewayMessages
    devices: GatewayDevices
    tags: GatewayTags
    values: GatewayValues
    latency_ms: GatewayLatency
    """From the southbound change of a value to its first northbound arrival."""
    gaps: GatewayGaps
    faults: list[GatewayFault]
