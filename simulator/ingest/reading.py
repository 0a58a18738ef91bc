"""When the worker reads its subscriber socket: as data comes, or once an interval when it is busy.

Every read of a socket wakes the worker, and on a loopback each wake-up costs the broker that
sends too: at 20,000 msg/s the worker read about 3.6 messages a read, and with 10,000 devices
the run's three processes used 136-139 ticks of the 200 two cores have a second; resting
2 ms after a busy read brought that to 98-115, the worker's share from 44-46 to 19-23, and
the latency down with it (docs/PERFORMANCE.md, "Reading once every 2 ms").

So a read that comes less than an interval after the previous read, or after the last rest
ended, is *busy*: the worker stops reading for an interval and lets the kernel's socket buffer
gather what comes, then reads it in one go. A read after a quiet spell does not rest, so a
message arriving alone is read at once: at low rates latency is measured as before, and a
busy worker's messages wait at most one interval in the buffer, which their latency includes.

The writer's own pause (its queue of batches is full) wins over the end of a rest: reading
resumes only when neither holds. One timer at a time, for the worker's one connection.
"""

from __future__ import annotations

from collections.abc import Callable
from math import inf
from typing import Protocol


class Timers(Protocol):
    """The part of an event loop the pacing uses (its clock and one timer)."""

    def time(self) -> float:
        """The loop's clock, in seconds."""
        ...

    def call_at(self, when: float, callback: Callable[[], None]) -> Cancellable:
        """Run ``callback`` at ``when`` on :meth:`time`'s clock."""
        ...


class Cancellable(Protocol):
    """A timer that can be called off."""

    def cancel(self) -> None:
        """Do not run it."""
        ...


class ReadPacing:
    """Decides when the worker's connection reads; ``reading(on)`` carries it out."""

    __slots__ = ("_full", "_interval_s", "_last", "_reading", "_rest", "_timers", "_woke", "rests")

    def __init__(self, interval_s: float, timers: Timers, reading: Callable[[bool], None]) -> None:
        self._interval_s = interval_s
        self._timers = timers
        self._reading = reading
        self._last = -inf
        """When the previous read was taken (loop time)."""
        self._woke = -inf
        """When the last rest ended."""
        self._rest: Cancellable | None = None
        """The timer of the rest in progress; None while reading as data comes."""
        self._full = False
        """Whether the writer's queue is full (its pause)."""
        self.rests = 0
        """How many times reading rested for an interval."""

    @property
    def resting(self) -> bool:
        """Whether reading is stopped for the rest of an interval."""
        return self._rest is not None

    def read(self) -> None:
        """A read was taken: rest for an interval if it came on the heels of the last one."""
        interval = self._interval_s
        if not interval:
            return
        timers = self._timers
        now = timers.time()
        busy = now - self._last < interval or now - self._woke < interval
        self._last = now
        if busy and self._rest is None:
            self.rests += 1
            self._reading(False)
            self._rest = timers.call_at(now + interval, self._rested)

    def writer_full(self, full: bool) -> None:
        """The writer's queue filled up (stop reading) or has room again."""
        self._full = full
        if full:
            self._reading(False)
        elif self._rest is None:
            self._reading(True)

    def cancel(self) -> None:
        """Stopping: call off a rest in progress (reading is not resumed)."""
        if self._rest is not None:
            self._rest.cancel()
            self._rest = None

    def _rested(self) -> None:
        self._rest = None
        self._woke = self._timers.time()
        if not self._full:
            self._reading(True)
