"""Fleet composition: which devices are which model, at which interval, in which format.

A plant is a mix: ``[[fleet.mix]]`` entries give each model its share of the fleet (or an exact
count), and optionally its own publish interval and payload format. This module turns that into
consecutive blocks of device indexes, one :class:`Group` per entry, exactly ``fleet.devices`` in
all: counts first, then the shares of what is left, rounded by largest remainder so the blocks
always add up. Devices are dealt to sites and lines round-robin by index, so every block is
spread over the whole plant. Without a mix, the fleet is one group of ``fleet.model``.

Pure: no clock, no I/O.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class MixEntry(Protocol):
    """What a ``[[fleet.mix]]`` entry says (the schema's model satisfies this)."""

    model: str
    share: float | None
    count: int | None
    publish_interval_s: float | None
    payload: str | None
    devices_per_connection: int | None


@dataclass(frozen=True, slots=True)
class Group:
    """A block of devices sharing model, interval and payload format."""

    model: str
    payload: str
    interval_s: float
    start: int
    """Index of the group's first device."""
    count: int
    per_connection: int = 1
    """Devices per connection: 1 connects each device itself, more puts them behind gateways."""

    @property
    def connections(self) -> int:
        """Connections the group opens."""
        return connections_for(self.count, self.per_connection)


def connections_for(devices: int, devices_per_connection: int) -> int:
    """Connections a fleet opens: one per device, or one per gateway of that many devices."""
    return -(-devices // devices_per_connection)


def connection_starts(groups: Sequence[Group]) -> array[int]:
    """The first device index of every connection, in order, and the fleet's size at the end.

    Connection ``c`` carries devices ``starts[c]`` to ``starts[c + 1] - 1``: a group's devices
    are cut into connections of its ``per_connection`` (the last one may carry fewer), so one
    fleet can mix directly connected devices and gateways. An array, not a list: a connection
    per device at scale would otherwise cost an int object each.
    """
    starts = array("q")
    end = 0
    for group in groups:
        starts.extend(range(group.start, group.start + group.count, group.per_connection))
        end = group.start + group.count
    starts.append(end)
    return starts


def compose(
    devices: int,
    mix: Sequence[MixEntry],
    *,
    model: str,
    payload: str,
    interval_s: float,
    per_connection: int = 1,
) -> tuple[Group, ...]:
    """Split ``devices`` into groups as ``mix`` says; defaults fill what an entry leaves out.

    Raises ValueError (with a message fit for a scenario problem) when the counts exceed the
    fleet, or when there are no shares to take up what the counts leave.
    """
    if not mix:
        return (Group(model, payload, interval_s, 0, devices, per_connection),)
    counted = sum(entry.count or 0 for entry in mix)
    if counted > devices:
        raise ValueError(f"the mix's counts add up to {counted}, more than the {devices} devices")
    shares = [entry.share or 0.0 for entry in mix]
    total_share = sum(shares)
    rest = devices - counted
    if rest and total_share <= 0:
        raise ValueError(
            f"the mix's counts add up to {counted} of {devices} devices and no entry has a "
            f"share to take the other {rest}"
        )
    exact = [rest * share / total_share if total_share else 0.0 for share in shares]
    sizes = [(entry.count or 0) + math.floor(x) for entry, x in zip(mix, exact, strict=True)]
    # Largest remainder: the devices rounding left over go to the largest fractions.
    missing = devices - sum(sizes)
    by_fraction = sorted(
        range(len(mix)), key=lambda i: exact[i] - math.floor(exact[i]), reverse=True
    )
    for i in by_fraction[:missing]:
        sizes[i] += 1
    groups: list[Group] = []
    start = 0
    for entry, size in zip(mix, sizes, strict=True):
        if size:
            groups.append(
                Group(
                    entry.model,
                    entry.payload or payload,
                    entry.publish_interval_s or interval_s,
                    start,
                    size,
                    entry.devices_per_connection or per_connection,
                )
            )
        start += size
    return tuple(groups)
