"""A drift-free timing wheel: one per publish interval, shared by every device on it.

Devices are not given timers. Each device sits in one slot of a wheel whose slots cover one
publish interval; the process's single scheduler tick calls :meth:`TimingWheel.advance` with
the current time and gets back every slot that has come due since the previous call.

The n-th firing of slot ``s`` is due at ``epoch + (n * slots + s) * slot_width`` exactly, so
the schedule never drifts however late a tick runs (emqtt-bench's ``start + n * interval``).
A slot processed more than one slot width after it was due counts its devices in
:attr:`TimingWheel.overrun`: the sender has fallen behind and says so instead of hiding it.

Only the slots that hold members exist (a dict from slot to members), so a wheel's memory
follows its devices, not its interval: a list per slot would be 17.3 M lists (1.1 GB) for the
fleet's 5 ms slots over a daily interval, of which a group of 10 devices fills 10. The slots
keep their width however long the interval, so a device keeps its phase and its due times.
Empty slots are still visited one by one as time passes: the cursor,
:meth:`TimingWheel.next_due` and so the scheduler's tick do not depend on where members are,
and a member added to any slot fires at that slot's next turn. A slot is looked up by
subscript, not ``get``: a slot with members, the busy wheel's every turn, costs no more than
a list index did, and only an empty one pays for the ``KeyError`` (about 0.3 µs).

A wheel at least one whole interval behind can catch up by slot, not by firing: it opens a
*catch-up window* over the firings due so far (at most ``max_repeats`` intervals of them) and
hands each slot's overdue firings to the caller together, as ``repeats``, so the caller can
send a device's backlog in one write. Each firing keeps its own due time
(``due + r * interval``) and is counted in the overrun on its own.

This module is pure: it takes ``now`` and imports no clock.
"""

from __future__ import annotations

from collections.abc import Generator
from math import ceil, floor
from typing import Generic, TypeVar

from simulator.errors import InvalidArgumentError

T = TypeVar("T")


class TimingWheel(Generic[T]):
    """Slots covering one interval; members of a slot fire once per interval.

    ``interval_s`` is the period of every member; ``slot_width_s`` the resolution of phases
    (it is rounded so that a whole number of slots covers the interval). ``epoch`` is the
    time of slot 0's first firing, on the same clock as the ``now`` given to :meth:`advance`.
    ``max_repeats`` is the most firings of a slot handed over at once; 1 (the default) hands
    over one firing at a time however far behind the wheel is. A larger backlog is handed over
    in windows of ``max_repeats`` intervals: the caller's work per handover, a slot's members
    times its repeats, stays bounded however late the wheel runs.
    """

    __slots__ = (
        "_count",
        "_cursor",
        "_late",
        "_max_repeats",
        "_slots",
        "_window_end",
        "_window_stop",
        "epoch",
        "interval_s",
        "overrun",
        "slot_width_s",
    )

    def __init__(
        self, interval_s: float, slot_width_s: float, epoch: float, *, max_repeats: int = 1
    ) -> None:
        if interval_s <= 0 or slot_width_s <= 0:
            raise InvalidArgumentError(
                f"timing wheel needs positive interval and slot width, got "
                f"interval_s={interval_s}, slot_width_s={slot_width_s}"
            )
        if max_repeats < 1:
            raise InvalidArgumentError(f"timing wheel needs max_repeats >= 1, got {max_repeats}")
        count = max(1, round(interval_s / slot_width_s))
        self.interval_s = interval_s
        self.slot_width_s = interval_s / count
        self.epoch = epoch
        self._count = count
        self._slots: dict[int, list[T]] = {}
        """Members by slot, only for slots that hold some. A slot emptied by :meth:`remove`
        goes; one a caller emptied in place (devices retired at their quota) stays, empty."""
        self._cursor = 0
        """Index (counting from the epoch, never wrapping) of the next firing to process."""
        self.overrun = 0
        """Member firings processed later than one slot width after they were due."""
        self._max_repeats = max_repeats
        """Most firings of a slot one handover may carry (1: no catch-up windows)."""
        self._window_end = -1
        """Last index (inclusive) the open catch-up window covers; -1 when none is open."""
        self._window_stop = 0
        """The cursor at which the open window has visited every slot once and closes."""
        self._late = 0
        """How many of the repeats being handed over are late (see :meth:`member_left`)."""

    @property
    def slot_count(self) -> int:
        """How many slots cover one interval."""
        return self._count

    def __len__(self) -> int:
        return sum(len(slot) for slot in self._slots.values())

    def slot_for_phase(self, phase_s: float) -> int:
        """The slot a member with this phase (0 <= phase < interval) belongs to."""
        return int(phase_s / self.slot_width_s) % self._count

    def add(self, member: T, phase_s: float) -> None:
        """Put ``member`` in the slot of ``phase_s``; it fires from that slot's next turn on."""
        self._slots.setdefault(self.slot_for_phase(phase_s), []).append(member)

    def remove(self, member: T, phase_s: float) -> None:
        """Take ``member`` out of its slot (a no-op if it is not there)."""
        index = self.slot_for_phase(phase_s)
        slot = self._slots.get(index)
        if slot is None:
            return
        try:
            slot.remove(member)
        except ValueError:
            return
        if not slot:
            del self._slots[index]

    def next_due(self) -> float:
        """When the next unprocessed firing is due (in a catch-up window: the cursor's slot)."""
        return self.epoch + self._cursor * self.slot_width_s

    def skip_to(self, now: float) -> None:
        """Forget firings due before ``now`` without counting them (used when starting late)."""
        # An open window has already handed over some firings up to its end: the cursor must
        # move past the end, or those would fire a second time.
        handed_over = max(self._cursor, self._window_end + 1)
        self._cursor = max(handed_over, ceil((now - self.epoch) / self.slot_width_s))
        self._window_end = -1

    def member_left(self, acted: int) -> None:
        """A member left the wheel while acting on its repeats, after the first ``acted``.

        The firings after those did not happen for it (it reached a message quota, say), so
        the late ones among them come off :attr:`overrun`, which counted them at the handover.
        Only for the caller of :meth:`advance`, while it acts on a handover with repeats.
        """
        self.overrun -= max(0, self._late - acted)

    def advance(self, now: float) -> Generator[tuple[float, list[T], int], None, None]:
        """Yield ``(due_time, members, repeats)`` for every firing due at or before ``now``.

        ``repeats`` (>= 1) firings of the slot are handed over at once, due at ``due_time``,
        ``due_time + interval_s``, and so on. It is 1 unless ``max_repeats`` allows more and
        the wheel is at least one whole interval behind: then a catch-up window opens over the
        indices up to ``now``'s (at most ``max_repeats`` intervals of them), and each slot comes
        once with all its firings in the window; a larger backlog takes several windows. A
        caller that closes the generator part way through resumes the open window at the next
        call (its end does not move), so no firing is lost or repeated.

        The members list is the live slot: callers must not keep or change it while iterating.
        """
        width = self.slot_width_s
        slots = self._slots
        count = self._count
        epoch = self.epoch
        last = floor((now - epoch) / width)
        while True:
            if self._window_end < 0:
                if self._max_repeats == 1 or last - self._cursor < count:
                    break
                self._window_end = min(last, self._cursor + self._max_repeats * count - 1)
                self._window_stop = self._cursor + count
            end = self._window_end
            stop = self._window_stop
            for index in range(self._cursor, stop):
                # The state moves before the yield: a generator closed at the yield leaves
                # the wheel ready to resume after the firing it has just handed over.
                if index + 1 < stop:
                    self._cursor = index + 1
                else:
                    self._cursor = end + 1
                    self._window_end = -1
                try:
                    members = slots[index % count]
                except KeyError:
                    continue
                if not members:
                    continue
                repeats = (end - index) // count + 1
                due = epoch + index * width
                # Each firing is late or not by its own due time, as if handed over alone:
                # the late ones are the oldest, so count back from the newest.
                late = repeats
                newest = index + (repeats - 1) * count
                while late and now - (epoch + newest * width) <= width:
                    late -= 1
                    newest -= count
                self._late = late
                self.overrun += len(members) * late
                yield due, members, repeats
        while self._cursor <= last:
            index = self._cursor
            self._cursor = index + 1
            try:
                members = slots[index % count]
            except KeyError:
                continue
            if not members:
                continue
            due = epoch + index * width
            if now - due > width:
                self.overrun += len(members)
            yield due, members, 1
