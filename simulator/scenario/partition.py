"""Dealing a fleet's telemetry topics out to several ingest workers, exactly.

Per-device sequence accounting is exact only if every message of a device reaches the same
worker. A shared subscription hands each message to any member, so several workers instead
subscribe to disjoint parts of the topic space: the topic template rendered for every place
in the plant (and every model, where the template names it), with the device's level left as
``+``. Devices are dealt round-robin over the plant's places (see :mod:`simulator.fleet.plant`),
so filters dealt round-robin to the workers give each about the same number of devices.

Pure: a function of the fleet settings alone, so every worker and the run agree on it.
"""

from __future__ import annotations

from simulator.fleet import DeviceIdentity
from simulator.scenario.schema import FleetSettings

SPARKPLUG = "sparkplug"


def ingest_partitions(fleet: FleetSettings, workers: int) -> tuple[tuple[str, ...], ...]:
    """The topic filters of each worker: at most ``workers`` disjoint, non-empty sets.

    Fewer sets come back when the template has fewer distinct places than workers (a
    template of ``plant/{device}/data`` has one: it cannot be split). Sparkplug devices'
    topics name their edge node, not their place, and are left out: the first worker takes
    them whole.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    layout = fleet.plant
    models = list(
        dict.fromkeys(group.model for group in fleet.groups if group.payload != SPARKPLUG)
    )
    levels = fleet.topic.split("/")
    places = fleet.sites * fleet.lines_per_site * fleet.cells_per_line
    filters: dict[str, None] = {}
    for slot in range(places):
        identity = layout.identity(slot)
        for model in models:
            filters[_filter(levels, identity, model)] = None
    distinct = list(filters)
    count = min(workers, len(distinct))
    return tuple(tuple(distinct[k::count]) for k in range(count))


def _filter(levels: list[str], identity: DeviceIdentity, model: str) -> str:
    values = identity.placeholders(model)
    return "/".join("+" if "{device}" in level else level.format_map(values) for level in levels)
