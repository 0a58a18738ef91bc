"""The report's ``groups``: every figure of a run broken down by fleet group.

A fleet is made of groups (``[[fleet.mix]]`` entries: model, publish interval, payload format,
and whether the devices connect directly or behind gateways). The fleet says what each group
published (its devices' sequence numbers, summed once at the end); ingest, for a fleet of
several groups, counts what it received of each and its latency
(:class:`~simulator.metrics.ingest.GroupIngest`), attributing each message by the fleet index
its device's id ends with. For a fleet of one group the group is the run, and its figures the
run's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypedDict

from simulator.metrics.histogram import Histogram, percentile_ms
from simulator.metrics.ingest import IngestSnapshot


@dataclass(frozen=True, slots=True)
class FleetGroup:
    """One group as the fleet saw it."""

    model: str
    payload: str
    interval_s: float
    gateway: bool
    """Whether its devices sit behind gateways (several per connection)."""
    devices: int
    published: int


class GroupFigures(TypedDict):
    """One fleet group in the report."""

    model: str
    payload: str
    interval_s: float
    connection: str
    """``direct`` (a connection per device) or ``gateway``."""
    devices: int
    published: int
    ingested: int | None
    """Distinct messages of its devices that ingest received (the whole run's committed
    count when the fleet is one group)."""
    lost: int | None
    latency_ms_p50: float | None
    latency_ms_p99: float | None


def group_figures(
    groups: Sequence[FleetGroup], ingest: IngestSnapshot | None
) -> list[GroupFigures]:
    """Each group's figures, in the fleet's order (empty: no fleet, e.g. ingest only)."""
    figures = []
    for number, group in enumerate(groups):
        ingested: int | None = None
        latency: Histogram | None = None
        if ingest is not None:
            if len(groups) == 1:
                ingested, latency = ingest.committed_unique, ingest.latency_us
            elif ingest.groups is not None and number < len(ingest.groups):
                ingested = ingest.groups[number].unique
                latency = ingest.groups[number].latency_us
        figures.append(
            GroupFigures(
                model=group.model,
                payload=group.payload,
                interval_s=group.interval_s,
                connection="gateway" if group.gateway else "direct",
                devices=group.devices,
                published=group.published,
                ingested=ingested,
                lost=max(0, group.published - ingested) if ingested is not None else None,
                latency_ms_p50=percentile_ms(latency, 50) if latency is not None else None,
                latency_ms_p99=percentile_ms(latency, 99) if latency is not None else None,
            )
        )
    return figures
