"""The one scheduler of a process: a single timer that drives every timing wheel.

Devices have no timers of their own. Each wheel gets an action (one callable per wheel, not per
device) that receives a due time and the members due then; the scheduler calls
``loop.call_at`` once for the earliest next firing of any wheel, runs everything due, and
re-arms itself. Because wheels compute due times from their epoch, a late tick catches up
without drifting, and the lateness is counted in each wheel's ``overrun``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from simulator.engine.wheel import TimingWheel

WheelAction = Callable[[float, list[Any]], None]


class Scheduler:
    """Drives a set of timing wheels from one event-loop timer."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._wheels: list[tuple[TimingWheel[Any], WheelAction]] = []
        self._handle: asyncio.TimerHandle | None = None
        self.ticks = 0
        """How many times the timer fired (for the live view and tests)."""

    def add_wheel(self, wheel: TimingWheel[Any], action: WheelAction) -> None:
        """Drive ``wheel``; ``action(due, members)`` runs for each of its firings."""
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
        self._handle = self._loop.call_at(when, self._tick)

    def _tick(self) -> None:
        self.ticks += 1
        now = self._loop.time()
        for wheel, action in self._wheels:
            for due, members in wheel.advance(now):
                action(due, members)
        self._arm()
