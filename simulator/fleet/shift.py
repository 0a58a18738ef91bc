"""The plant's working week: which hours are on shift, and where in the week a run starts.

Factories do not run around the clock: machines are set up and run on shift and stand idle
between shifts and at weekends, and the people, lights and heating follow the same calendar. A
:class:`ShiftCalendar` maps run time (seconds since the run started) to plant time (seconds since
Monday 00:00) and says whether that moment is on shift and when the next change is.

Where in the week a run starts is drawn from the seed (:func:`plant_offset_s`), the same for every
device and every calendar of that run: all machines of one plant share its clock. Calendars are
shared objects (one per seed and pattern, see :func:`calendar_for`), so a device holds only a
reference to one.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from functools import lru_cache

from simulator.fleet.noise import unit

DAY_S = 86_400
WEEK_S = 7 * DAY_S
"""Seconds in a week; plant time wraps around every week."""

_HOUR_S = 3_600
_OFFSET_TAG = 0x5348494654  # keeps the plant clock's draw apart from every device stream
_NUDGE_S = 1e-3
"""A boundary reached by adding floats may land a hair short of it; looking 1 ms ahead counts it
as passed, so a caller stepping from change to change always moves forward."""

TWO_SHIFTS: tuple[tuple[int, int], ...] = tuple(
    (day * DAY_S + 6 * _HOUR_S, day * DAY_S + 22 * _HOUR_S) for day in range(5)
)
"""Early and late shift, Monday to Friday 06:00-22:00: machining, assembly, offices."""

THREE_SHIFTS: tuple[tuple[int, int], ...] = ((6 * _HOUR_S, 5 * DAY_S + 6 * _HOUR_S),)
"""Round the clock from Monday 06:00 to Saturday 06:00: moulding and continuous lines, which
are costly to heat up and cool down."""


def plant_offset_s(seed: int) -> int:
    """Return the plant time (whole seconds since Monday 00:00) at which run ``seed`` starts."""
    return int(unit(seed, 0, _OFFSET_TAG) * WEEK_S)


class ShiftCalendar:
    """On-shift windows over a week, and the plant time at which the run started."""

    __slots__ = ("_edges", "offset_s")

    def __init__(self, windows: Sequence[tuple[int, int]], offset_s: int) -> None:
        """Build from on-shift ``(start, end)`` windows in seconds since Monday 00:00.

        Windows must be sorted, not touch or overlap, lie within one week and leave some time
        off shift, so that there is always a next change.
        """
        edges = [edge for window in windows for edge in window]
        if not edges or edges != sorted(set(edges)) or edges[0] < 0 or edges[-1] > WEEK_S:
            raise ValueError(f"shift windows must be sorted and disjoint within a week: {windows}")
        if edges[0] == 0 and edges[-1] == WEEK_S:
            raise ValueError("a shift calendar needs some time off shift")
        self._edges = tuple(edges)
        self.offset_s = offset_s
        """Plant time at run time 0, in seconds since Monday 00:00."""

    def at(self, t_s: float) -> tuple[bool, float]:
        """Return whether run time ``t_s`` is on shift, and the run time of the next change.

        The next change is always later than ``t_s``.
        """
        edges = self._edges
        week_t = (t_s + self.offset_s + _NUDGE_S) % WEEK_S
        i = bisect_right(edges, week_t)
        to_change = edges[i] - week_t if i < len(edges) else WEEK_S - week_t + edges[0]
        return i % 2 == 1, t_s + _NUDGE_S + to_change

    def on_shift(self, t_s: float) -> bool:
        """Whether run time ``t_s`` is on shift."""
        return self.at(t_s)[0]

    def shift_start(self, t_s: float) -> float:
        """Return the run time at which the current shift, or the last one if off shift, began.

        May be negative: a shift that was under way when the run started began before it.
        """
        edges = self._edges
        week_t = (t_s + self.offset_s + _NUDGE_S) % WEEK_S
        i = bisect_right(edges, week_t)
        start_index = i - 1 if i % 2 == 1 else i - 2
        since = week_t - edges[start_index] if start_index >= 0 else week_t + WEEK_S - edges[-2]
        return t_s + _NUDGE_S - since


@lru_cache(maxsize=256)
def calendar_for(seed: int, windows: tuple[tuple[int, int], ...]) -> ShiftCalendar:
    """Return the one shared calendar of run ``seed`` with these on-shift ``windows``."""
    return ShiftCalendar(windows, plant_offset_s(seed))
