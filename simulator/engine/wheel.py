"""A drift-free timing wheel: one per publish interval, shared by every device on it.

Devices are not given timers. Each device sits in one slot of a wheel whose slots cover one
publish interval; the process's single scheduler tick calls :meth:`TimingWheel.advance` with
the current time and gets back every slot that has come due since the previous call.

The n-th firing of slot ``s`` is due at ``epoch + (n * slots + s) * slot_width`` exactly, so
the schedule never drifts however late a tick runs (emqtt-bench's ``start + n * interval``).
A slot processed more than one slot width after it was due counts its devices in
:attr:`TimingWheel.overrun`: the sender has fallen behind and says so instead of hiding it.

This module is pure: it takes ``now`` and imports no clock.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Generic, TypeVar

from simulator.errors import LocalProtocolError

T = TypeVar("T")


class TimingWheel(Generic[T]):
    """Slots covering one interval; members of a slot fire once per interval.

    ``interval_s`` is the period of every member; ``slot_width_s`` the resolution of phases
    (it is rounded so that a whole number of slots covers the interval). ``epoch`` is the
    time of slot 0's first firing, on the same clock as the ``now`` given to :meth:`advance`.
    """

    __slots__ = ("_cursor", "_slots", "epoch", "interval_s", "overrun", "slot_width_s")

    def __init__(self, interval_s: float, slot_width_s: float, epoch: float) -> None:
        if interval_s <= 0 or slot_width_s <= 0:
            raise LocalProtocolError(
                f"timing wheel needs positive interval and slot width, got "
                f"interval_s={interval_s}, slot_width_s={slot_width_s}"
            )
        count = max(1, round(interval_s / slot_width_s))
        self.interval_s = interval_s
        self.slot_width_s = interval_s / count
        self.epoch = epoch
        self._slots: list[list[T]] = [[] for _ in range(count)]
        self._cursor = 0
        """Index (counting from the epoch, never wrapping) of the next firing to process."""
        self.overrun = 0
        """Member firings processed later than one slot width after they were due."""

    @property
    def slot_count(self) -> int:
        """How many slots cover one interval."""
        return len(self._slots)

    def __len__(self) -> int:
        return sum(len(slot) for slot in self._slots)

    def slot_for_phase(self, phase_s: float) -> int:
        """The slot a member with this phase (0 <= phase < interval) belongs to."""
        return int(phase_s / self.slot_width_s) % len(self._slots)

    def add(self, member: T, phase_s: float) -> None:
        """Put ``member`` in the slot of ``phase_s``; it fires from that slot's next turn on."""
        self._slots[self.slot_for_phase(phase_s)].append(member)

    def remove(self, member: T, phase_s: float) -> None:
        """Take ``member`` out of its slot (a no-op if it is not there)."""
        slot = self._slots[self.slot_for_phase(phase_s)]
        try:
            slot.remove(member)
        except ValueError:
            return

    def next_due(self) -> float:
        """When the next unprocessed firing is due."""
        return self.epoch + self._cursor * self.slot_width_s

    def skip_to(self, now: float) -> None:
        """Forget firings due before ``now`` without counting them (used when starting late)."""
        target = max(self._cursor, math.ceil((now - self.epoch) / self.slot_width_s))
        self._cursor = target

    def advance(self, now: float) -> Generator[tuple[float, list[T]], None, None]:
        """Yield ``(due_time, members)`` for every firing due at or before ``now``, in order.

        The members list is the live slot: callers must not keep or change it while iterating.
        """
        width = self.slot_width_s
        slots = self._slots
        count = len(slots)
        last = math.floor((now - self.epoch) / width)
        while self._cursor <= last:
            index = self._cursor
            self._cursor = index + 1
            members = slots[index % count]
            if not members:
                continue
            due = self.epoch + index * width
            if now - due > width:
                self.overrun += len(members)
            yield due, members
