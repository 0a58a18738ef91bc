"""A run's ingest workers: one or several child processes seen as one.

With several workers each subscribes to its own share of the telemetry topics (see
:mod:`simulator.scenario.partition`), so every device's messages reach one worker and its
figures are exact; the pool sums them (:meth:`IngestSnapshot.merge`) for the live view and
the report, and keeps each worker's own for the report's ``ingest.workers`` list.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from simulator.errors import IngestChildError
from simulator.ingest.child import IngestChild, wait_for_progress
from simulator.ingest.settings import WorkerSettings
from simulator.metrics.ingest import IngestSnapshot, WorkerShare


class IngestPool:
    """Several :class:`IngestChild` processes, started, watched and stopped together."""

    def __init__(self, settings: Sequence[WorkerSettings]) -> None:
        if not settings:
            raise ValueError("an ingest pool needs at least one worker")
        self.progressed = asyncio.Event()
        """Set whenever any worker says something new."""
        self.children = [IngestChild(s, progressed=self.progressed) for s in settings]

    @property
    def run_id(self) -> str:
        """The run id every worker marks its rows with."""
        return self.children[0].run_id

    async def start(self, timeout_s: float = 20.0) -> list[str]:
        """Start every worker and wait until each has subscribed; their notes, once each."""
        results = await asyncio.gather(
            *(child.start(timeout_s) for child in self.children), return_exceptions=True
        )
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            await self.kill()
            raise failed[0]
        notes: list[str] = []
        for result in results:
            assert not isinstance(result, BaseException)
            notes.extend(n for n in result if n not in notes)
        return notes

    @property
    def progress(self) -> IngestSnapshot | None:
        """Every worker's latest figures added up (None before any has reported)."""
        return _merged(child.progress for child in self.children)

    @property
    def committed(self) -> int:
        """Distinct messages committed by all workers."""
        return sum(child.committed for child in self.children)

    @property
    def resolved(self) -> int:
        """Distinct messages committed or given up, by all workers."""
        return sum(child.resolved for child in self.children)

    @property
    def deaths_left(self) -> int:
        """Devices heard leaving on purpose (only the first worker listens to deaths)."""
        return sum(child.deaths_left for child in self.children)

    @property
    def gone(self) -> bool:
        """A worker has exited."""
        return any(child.gone for child in self.children)

    def dead(self) -> list[IngestChild]:
        """The workers that have exited."""
        return [child for child in self.children if child.gone]

    async def wait_for_resolved(self, count: int, timeout_s: float) -> bool:
        """Wait until ``count`` distinct messages are committed or given up, all workers
        together; False on timeout, or as soon as a worker has exited."""
        return await self._wait_until(lambda: self.resolved >= count, timeout_s)

    async def wait_for_deaths(self, count: int, timeout_s: float) -> bool:
        """Wait until ``count`` devices are heard leaving; False on timeout or a dead worker."""
        return await self._wait_until(lambda: self.deaths_left >= count, timeout_s)

    async def _wait_until(self, done: Callable[[], bool], timeout_s: float) -> bool:
        return await wait_for_progress(self.progressed, done, lambda: self.gone, timeout_s)

    async def stop(self, timeout_s: float = 30.0) -> IngestSnapshot:
        """Stop every worker; their final figures added up. If any worker fails to report,
        IngestChildError names it (the others are stopped all the same)."""
        results = await asyncio.gather(
            *(child.stop(timeout_s) for child in self.children), return_exceptions=True
        )
        errors = [
            f"worker {child.settings.client_id}: {result}"
            for child, result in zip(self.children, results, strict=True)
            if isinstance(result, BaseException)
        ]
        if errors:
            raise IngestChildError("; ".join(errors))
        merged = _merged(r for r in results if isinstance(r, IngestSnapshot))
        assert merged is not None
        return merged

    async def kill(self) -> None:
        """Stop every worker at once."""
        await asyncio.gather(*(child.kill() for child in self.children))

    @property
    def final(self) -> IngestSnapshot | None:
        """Every worker's final figures added up, once all have them."""
        finals = [child.final for child in self.children]
        if any(f is None for f in finals):
            return None
        return _merged(finals)

    def per_worker(self) -> list[WorkerShare]:
        """Each worker's share, for the report: who, which topics, what it took."""
        shares: list[WorkerShare] = []
        for child in self.children:
            snap = child.final or child.progress
            shares.append(
                WorkerShare(
                    client_id=child.settings.client_id,
                    topic_filters=len(child.settings.partition) or None,
                    received=snap.received if snap is not None else None,
                    committed_rows=snap.committed_rows if snap is not None else None,
                    registrations=snap.responder.get("registrations")
                    if snap is not None and snap.responder is not None
                    else None,
                    exit_status=child.returncode,
                )
            )
        return shares


def _merged(snapshots: Any) -> IngestSnapshot | None:
    total: IngestSnapshot | None = None
    for snap in snapshots:
        if snap is None:
            continue
        if total is None:
            total = IngestSnapshot.from_dict(snap.to_dict())  # a copy to add the others to
        else:
            total.merge(snap)
    return total
