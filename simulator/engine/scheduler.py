"""The one scheduler of a process: a single timer that drives every timing wheel.

Devices have no timers of their own. Each wheel gets an action (one callable per wheel, not per
device) that receives a due time, the members due then and how many consecutive firings of
theirs are due (more than one when the wheel catches up a whole interval); the scheduler calls
``loop.call_at`` once for the earliest next firing of any wheel, runs everything due, and
re-arms itself. Because wheels compute due times from their epoch, a late tick catches up
without drifting, and the lateness is counted in each wheel's ``overrun``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from simulator.engine.wheel import TimingWheel

WheelAction = Callable[[float, list[Any], int], None]
"""``action(due, members, repeats)``: ``repeats`` firings of ``members``, the first at ``due``."""


class Scheduler:
    """Drives a set of timing wheels from one event-loop timer."""

    def __init__(self, loop: asyncio.AbstractEventLoop, budget: int = 2_000) -> None:
        self._loop = loop
        self._wheels: list[tuple[TimingWheel[Any], WheelAction]] = []
        self._handle: asyncio.Handle | None = None
        self.ticks = 0
        """How many times the timer fired (for the live view and tests)."""
        self.budget = budget
        """Member firings one tick may process before it yields to the event loop."""

    def add_wheel(self, wheel: TimingWheel[Any], action: WheelAction) -> None:
        """Drive ``wheel``; ``action(due, members, repeats)`` runs for each of its firings."""
        self._wheels.append((wheel, action))
        if self._handle is not None:
            self._arm()

    @property
    def running(self) -> bool:
        """Whether the timer is armed."""
        return self._handle is not None

    @property
    def overrun(self) -> int:
        """Member firings that ran more than one slot late, over every wheel."""
        return sum(wheel.overrun for wheel, _ in self._wheels)

    def start(self) -> None:
        """Arm the timer for the earliest due firing."""
        if self._handle is None:
            self._arm()

    def stop(self) -> None:
        """Disarm the timer; firings not yet run are not run."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _arm(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        if not self._wheels:
            self._handle = None
            return
        when = min(wheel.next_due() for wheel, _ in self._wheels)
        loop = self._loop
        if when <= loop.time():
            # Behind schedule: run again after the loop has polled I/O and run other timers.
            # A timer already due would be run again within the same timer phase by uvloop
            # (libuv), starving CONNACKs, pings and the monitor while the sender catches up.
            self._handle = loop.call_soon(self._tick)
        else:
            self._handle = loop.call_at(when, self._tick)

    def _tick(self) -> None:
        # A sender that has fallen behind must not catch up in one callback: that starves
        # every socket read and timer (CONNACKs, pings, the monitor) while the backlog grows.
        # Each tick does at most ``budget`` members' work, then yields to the loop.
        self.ticks += 1
        now = self._loop.time()
        budget = self.budget
        # Each tick starts at the next wheel: a publish wheel far behind would otherwise
        # spend every tick's budget before the wheels after it (the ping wheel) got a turn,
        # and a broker disconnects a connection it has heard nothing from for 1.5 keepalives.
        wheels = self._wheels
        first = self.ticks % len(wheels)
        for wheel, action in (*wheels[first:], *wheels[:first]):
            firings = wheel.advance(now)
            for due, members, repeats in firings:
                action(due, members, repeats)
                budget -= len(members) * repeats
                if budget <= 0:
                    firings.close()
                    break
            if budget <= 0:
                break
        self._arm()
