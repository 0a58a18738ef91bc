"""Slices of one run: which connections, devices and connect times are slice ``I`` of ``N``.

A run can be split over ``N`` processes (or hosts): ``factory-sim run SCENARIO --segment I/N``
runs slice ``I``. The dealing is a pure function of the plan, as k6's execution segments are:

- connection ``c`` of the whole fleet (its global index, in :func:`connection_starts` order)
  belongs to slice ``c mod N``; a connection carries its devices with it (a gateway's block
  stays whole), so slices never overlap and always add up to the whole fleet;
- every device keeps its global index, hence its id, topic, model state and publish phase;
- connection ``c`` still starts at ``OnboardingPlan.start_s(c)`` of the whole plan, so slice
  ``I``'s connects are every ``N``-th of the whole schedule: the onboarding rate and the
  message rate are split ``N`` ways, and the ``N`` slices started at one moment are the plan.

Pure: no clock, no I/O.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from simulator.scenario.composition import Group, connection_starts
from simulator.scenario.plan import OnboardingPlan

_SEGMENT_RE = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


@dataclass(frozen=True, slots=True)
class Segment:
    """Slice ``index`` of ``count``: the connections whose global index is ``index`` mod
    ``count``."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"a run has at least 1 slice, got {self.count}")
        if not 0 <= self.index < self.count:
            raise ValueError(
                f"slice index must be in 0..{self.count - 1} for {self.count} slice(s), "
                f"got {self.index}"
            )

    @classmethod
    def parse(cls, text: str) -> Segment:
        """``"I/N"`` (``"2/4"``: the third of four slices); ValueError saying what is wrong."""
        match = _SEGMENT_RE.fullmatch(text)
        if match is None:
            raise ValueError(f"expected I/N (e.g. 0/4), got {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    @property
    def whole(self) -> bool:
        """Whether this is the whole run (``0/1``)."""
        return self.count == 1

    def connections(self, total: int) -> int:
        """How many of ``total`` connections this slice takes."""
        return len(range(self.index, total, self.count))

    def global_connection(self, local: int) -> int:
        """The whole fleet's index of this slice's connection ``local``."""
        return self.index + local * self.count

    def owns(self, connection: int) -> bool:
        """Whether global connection ``connection`` is this slice's."""
        return connection % self.count == self.index

    def local_connection(self, connection: int) -> int:
        """This slice's index of global connection ``connection`` (ValueError if not ours)."""
        if not self.owns(connection):
            raise ValueError(f"connection {connection} is not in slice {self}")
        return connection // self.count

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


WHOLE = Segment()
"""The whole run: one slice."""


def slice_connections(groups: Sequence[Group], segment: Segment) -> range:
    """The global indexes of the connections slice ``segment`` takes, in order."""
    total = sum(group.connections for group in groups)
    return range(segment.index, total, segment.count)


def slice_starts(starts: Sequence[int], segment: Segment) -> array[int]:
    """The slice's own connection starts: where each of its connections' devices begin in the
    slice's device list, and the slice's device count at the end (the shape of
    :func:`connection_starts`, over the slice's devices only)."""
    local = array("q", [0])
    end = 0
    for connection in range(segment.index, len(starts) - 1, segment.count):
        end += starts[connection + 1] - starts[connection]
        local.append(end)
    return local


def slice_devices(groups: Sequence[Group], segment: Segment) -> list[int]:
    """The global indexes of the devices slice ``segment`` takes, connection by connection."""
    starts = connection_starts(groups)
    devices: list[int] = []
    for connection in slice_connections(groups, segment):
        devices.extend(range(starts[connection], starts[connection + 1]))
    return devices


def slice_device_count(groups: Sequence[Group], segment: Segment) -> int:
    """How many devices slice ``segment`` takes."""
    starts = connection_starts(groups)
    return sum(
        starts[c + 1] - starts[c] for c in range(segment.index, len(starts) - 1, segment.count)
    )


class SegmentSchedule:
    """The whole plan's connect times for one slice's connections: local connection ``k``
    starts when global connection ``segment.global_connection(k)`` would in the whole run."""

    __slots__ = ("_plan", "_segment")

    def __init__(self, plan: OnboardingPlan, segment: Segment) -> None:
        self._plan = plan
        self._segment = segment

    def start_s(self, index: int) -> float:
        """Seconds after onboarding begins at which this slice's connect ``index`` is due."""
        return self._plan.start_s(self._segment.global_connection(index))

    def eta_s(self) -> float:
        """When this slice's last connect is due (0 for none)."""
        count = self._segment.connections(self._plan.devices)
        return self.start_s(count - 1) if count else 0.0


def parse_start_at(text: str) -> int:
    """``--start-at``: ISO 8601 UTC (``2026-12-07T08:00:00Z``; no zone means UTC) or seconds
    since the epoch (``1796630400``, ``1796630400.5``), as ns since the epoch; ValueError
    saying what is wrong."""
    value = text.strip()
    try:
        number = Decimal(value)
    except InvalidOperation:
        pass
    else:
        if not number.is_finite() or number < 0:
            raise ValueError(f"expected seconds since the epoch, got {text!r}")
        return round(number * 1_000_000_000)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"expected an ISO 8601 UTC time (e.g. 2026-12-07T08:00:00Z) or seconds since the "
            f"epoch, got {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
