"""Group items into batches that close when full or when their oldest item has waited long enough.

Pure: the caller passes ``now`` (any monotonic clock, in seconds) and decides when to call
:meth:`Batcher.due`, for example from one periodic tick or by sleeping until
:attr:`Batcher.deadline`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class Batcher(Generic[T]):
    """Collects items; hands them back in batches of at most ``max_size``, none older than
    ``max_age_s`` when :meth:`due` is called in time."""

    __slots__ = ("_items", "_max_age_s", "_max_size", "_oldest")

    def __init__(self, max_size: int, max_age_s: float) -> None:
        """Batches close at ``max_size`` items, or ``max_age_s`` after their first item."""
        if max_size < 1:
            raise ValueError(f"max_size must be >= 1, got {max_size}")
        if not max_age_s > 0:
            raise ValueError(f"max_age_s must be > 0, got {max_age_s}")
        self._max_size = max_size
        self._max_age_s = max_age_s
        self._items: list[T] = []
        self._oldest = 0.0

    def add(self, item: T, now: float) -> list[T] | None:
        """Add ``item`` received at ``now``; return the batch if this filled it."""
        items = self._items
        if not items:
            self._oldest = now
        items.append(item)
        if len(items) >= self._max_size:
            return self.drain()
        return None

    def add_many(self, items: Sequence[T], now: float) -> list[list[T]]:
        """Add ``items`` received at ``now``, in order; return the batches they filled, oldest
        first (usually none or one). The same batches as one :meth:`add` per item, for one
        call instead of one per item: the ingest worker adds a whole read's rows at once."""
        filled: list[list[T]] = []
        start = 0
        while start < len(items):
            open_items = self._items
            if not open_items:
                self._oldest = now
            room = self._max_size - len(open_items)
            open_items.extend(items[start : start + room])
            start += room
            if len(open_items) >= self._max_size:
                filled.append(self.drain())
        return filled

    def due(self, now: float) -> list[T] | None:
        """Return the pending batch if its oldest item has waited ``max_age_s`` or more."""
        if self._items and now - self._oldest >= self._max_age_s:
            return self.drain()
        return None

    def drain(self) -> list[T]:
        """Return everything pending (possibly nothing) and start afresh."""
        items, self._items = self._items, []
        return items

    @property
    def pending(self) -> int:
        """How many items wait in the current batch."""
        return len(self._items)

    @property
    def oldest(self) -> float | None:
        """When the pending batch's first item came (same clock as ``now``); None if nothing
        waits."""
        return self._oldest if self._items else None

    @property
    def deadline(self) -> float | None:
        """When the pending batch becomes due (same clock as ``now``); None if nothing waits."""
        return self._oldest + self._max_age_s if self._items else None
