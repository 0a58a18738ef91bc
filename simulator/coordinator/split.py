"""How many worker processes a fleet needs: a pure function of its size and the file limit.

Every connection costs one open file in the process that holds it, and one process may hold
``open_files`` (RLIMIT_NOFILE) less a margin. ``--workers N`` asks for N; ``--workers auto``
(or an N too small) takes as many as the fleet needs, and says so with the numbers.

Pure: the limit comes in as a number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WorkerSplit:
    """How a fleet is split over worker processes, and why."""

    workers: int
    connections: int
    """Connections of the whole fleet."""
    capacity: int
    """Connections one process may hold (its open-file limit less the margin)."""
    open_files: int
    requested: int | None
    """Workers asked for (None: ``auto``)."""

    @property
    def per_worker(self) -> int:
        """The largest worker's share of the connections."""
        return math.ceil(self.connections / self.workers) if self.connections else 0

    @property
    def raised(self) -> bool:
        """Whether more workers run than were asked for, because the fleet needed them."""
        return self.requested is not None and self.workers > self.requested

    def said(self) -> str:
        """The split in one sentence, with its numbers."""
        why = (
            f"one process may hold {self.capacity:,} connections (open-file limit "
            f"{self.open_files:,})"
        )
        head = f"{self.connections:,} connections over {self.workers} worker process(es), "
        head += f"at most {self.per_worker:,} each: "
        if self.raised:
            return head + f"{self.requested} asked for, but {why}"
        if self.requested is None:
            return head + why
        return head + f"as asked ({why})"


def split_fleet(
    connections: int, *, requested: int | None, open_files: int, margin: int
) -> WorkerSplit:
    """The split of ``connections`` for ``requested`` workers (None: as many as needed)."""
    if requested is not None and requested < 1:
        raise ValueError(f"workers must be at least 1, got {requested}")
    capacity = max(1, open_files - margin)
    needed = max(1, math.ceil(connections / capacity))
    workers = max(needed, requested or 1)
    return WorkerSplit(workers, connections, capacity, open_files, requested)
