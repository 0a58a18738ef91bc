"""A run's ingest workers: one or several child processes seen as one, restarted if they die.

With several workers each subscribes to its own share of the telemetry topics (see
:mod:`simulator.scenario.partition`), so every device's messages reach one worker and its
figures are exact; the pool sums them (:meth:`IngestSnapshot.merge`) for the live view and
the report, and keeps each worker's own for the report's ``ingest.workers`` list.

A worker that dies (exits without its final line) before the run asks it to stop is started
again with the same settings (same client id, so a kept session and what the broker queued in
it meanwhile go to the new one; same run id), at most :data:`MAX_RESTARTS` times per worker;
each death is kept with its reason (:attr:`IngestPool.restarts`). The new worker reads back
what the run stored of its devices before it subscribes (``resume_from_sink``), so its figures
are the run's; the pool adds only what that cannot give back, from the dead worker's last
line (:meth:`IngestSnapshot.carried`). A worker that dies once more past the budget stays dead,
and ingest's figures are unknown, as before restarts existed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable, Iterable, Sequence

from simulator.errors import IngestChildError
from simulator.ingest.child import IngestChild, wait_for_progress
from simulator.ingest.control import Control
from simulator.ingest.settings import WorkerSettings
from simulator.metrics.ingest import IngestSnapshot, WorkerRestart, WorkerShare

MAX_RESTARTS = 3
"""Restarts of one worker in one run. A worker that keeps dying (a sink it cannot open, a
broker refusing it) fails the run after a few seconds instead of looping; a stray kill, an
out-of-memory kill, a crash are answered."""
RESTART_TIMEOUT_S = 300.0
"""How long a restarted worker may take to subscribe: it reads the run's rows back first,
about 4 s of CPU per million rows (docs/PERFORMANCE.md, "Kept sessions: drain and read-back")."""


class _Slot:
    """One worker's place in the pool: the process now in it and what the dead ones left."""

    __slots__ = ("carried", "child", "failed", "interim", "restarts", "starting")

    def __init__(self, child: IngestChild) -> None:
        self.child = child
        self.restarts = 0
        self.carried: IngestSnapshot | None = None
        """What the dead workers of this slot counted that the sink cannot give back."""
        self.interim: IngestSnapshot | None = None
        """The slot's figures when its worker died, until the new one reports."""
        self.failed = False
        """Dead past the restart budget (or while stopping): its figures are unknown."""
        self.starting: asyncio.Future[list[str]] | None = None
        """A new worker's start, while it runs."""

    def snapshot(self) -> IngestSnapshot | None:
        """The slot's figures for the run: the current worker's plus what the dead ones left."""
        return self.combined(self.child.progress)

    def combined(self, latest: IngestSnapshot | None) -> IngestSnapshot | None:
        if latest is None:
            return self.interim
        if self.carried is None:
            return latest
        total = IngestSnapshot.from_dict(latest.to_dict())
        total.merge(self.carried)
        total.rows_before = self.carried.rows_before  # what the storage held before the run
        return total


class IngestPool:
    """Several :class:`IngestChild` processes, started, watched, restarted and stopped together."""

    def __init__(
        self, settings: Sequence[WorkerSettings], *, say: Callable[[str], None] | None = None
    ) -> None:
        """Workers with these settings; ``say`` hears of each restart as it happens."""
        if not settings:
            raise ValueError("an ingest pool needs at least one worker")
        self.progressed = asyncio.Event()
        """Set whenever any worker says something new."""
        self._slots = [_Slot(IngestChild(s, progressed=self.progressed)) for s in settings]
        self.restarts: list[WorkerRestart] = []
        """Every death the pool answered by starting the worker again, in order."""
        self._say = say
        self._start_timeout_s = 20.0
        self._watchers: list[asyncio.Task[None]] = []
        self._stopping = False
        self._commit_delay_s = 0.0

    @property
    def children(self) -> list[IngestChild]:
        """The worker processes now in the pool, one per worker."""
        return [slot.child for slot in self._slots]

    @property
    def run_id(self) -> str:
        """The run id every worker marks its rows with."""
        return self._slots[0].child.run_id

    async def start(self, timeout_s: float = 20.0) -> list[str]:
        """Start every worker and wait until each has subscribed; their notes, once each.

        From then on each worker is watched, and started again if it dies."""
        self._start_timeout_s = timeout_s
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
        self._watchers = [asyncio.create_task(self._watch(slot)) for slot in self._slots]
        return notes

    def delay_commits(self, delay_s: float) -> None:
        """Have every worker wait ``delay_s`` before each batch's commit from now on (0: no
        more), those started again later included (a ``slow_sink`` fault)."""
        self._commit_delay_s = delay_s
        for child in self.children:
            child.tell(Control(delay_s))

    @property
    def progress(self) -> IngestSnapshot | None:
        """Every worker's latest figures added up (None before any has reported)."""
        return _merged(slot.snapshot() for slot in self._slots)

    @property
    def committed(self) -> int:
        """Distinct messages committed by all workers."""
        return sum(_count(slot.snapshot(), "committed_unique") for slot in self._slots)

    @property
    def resolved(self) -> int:
        """Distinct messages committed or given up, by all workers."""
        return sum(_count(slot.snapshot(), "resolved_unique") for slot in self._slots)

    @property
    def deaths_left(self) -> int:
        """Devices heard leaving on purpose (only the first worker listens to deaths)."""
        total = 0
        for slot in self._slots:
            snap = slot.snapshot()
            deaths = snap.deaths if snap is not None else None
            total += deaths.get("left", 0) if deaths is not None else 0
        return total

    @property
    def gone(self) -> bool:
        """A worker has died for good: past its restarts, or while the run was stopping."""
        return any(slot.failed for slot in self._slots)

    def dead(self) -> list[IngestChild]:
        """The workers that died for good."""
        return [slot.child for slot in self._slots if slot.failed]

    async def wait_for_resolved(self, count: int, timeout_s: float) -> bool:
        """Wait until ``count`` distinct messages are committed or given up, all workers
        together; False on timeout, or as soon as a worker has died for good."""
        return await self._wait_until(lambda: self.resolved >= count, timeout_s)

    async def wait_for_deaths(self, count: int, timeout_s: float) -> bool:
        """Wait until ``count`` devices are heard leaving; False on timeout or a dead worker."""
        return await self._wait_until(lambda: self.deaths_left >= count, timeout_s)

    async def _wait_until(self, done: Callable[[], bool], timeout_s: float) -> bool:
        return await wait_for_progress(self.progressed, done, lambda: self.gone, timeout_s)

    async def stop(self, timeout_s: float = 30.0) -> IngestSnapshot:
        """Stop every worker (one being restarted is let finish starting first); their final
        figures added up. If any worker fails to report, IngestChildError names it (the
        others are stopped all the same)."""
        self._stopping = True
        for slot in self._slots:
            if slot.starting is not None:
                with contextlib.suppress(IngestChildError):
                    await slot.starting
        results = await asyncio.gather(
            *(slot.child.stop(timeout_s) for slot in self._slots), return_exceptions=True
        )
        await self._end_watchers()
        errors = []
        for slot, result in zip(self._slots, results, strict=True):
            if isinstance(result, BaseException):
                slot.failed = True
                errors.append(f"worker {slot.child.settings.client_id}: {result}")
        if errors:
            raise IngestChildError("; ".join(errors))
        merged = self.final
        assert merged is not None
        return merged

    async def kill(self) -> None:
        """Stop every worker at once, and restart none."""
        self._stopping = True
        for slot in self._slots:
            if slot.starting is not None:
                slot.starting.cancel()
        await self._end_watchers()
        await asyncio.gather(*(child.kill() for child in self.children))

    @property
    def final(self) -> IngestSnapshot | None:
        """Every worker's final figures added up, once all have them."""
        if any(slot.child.final is None for slot in self._slots):
            return None
        return _merged(slot.combined(slot.child.final) for slot in self._slots)

    def per_worker(self) -> list[WorkerShare]:
        """Each worker's share, for the report: who, which topics, what it took."""
        shares: list[WorkerShare] = []
        for slot in self._slots:
            child = slot.child
            snap = slot.combined(child.final) if child.final is not None else slot.snapshot()
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
                    restarts=slot.restarts,
                )
            )
        return shares

    # restarting

    async def _watch(self, slot: _Slot) -> None:
        """Start the slot's worker again each time it dies, within the budget."""
        while True:
            child = slot.child
            await child.exited()
            if self._stopping or child.final is not None:
                # Stopped on purpose: by us, or by a signal to the whole process group (Ctrl-C
                # in a terminal reaches the worker too), and it said its final word.
                return
            if slot.restarts >= MAX_RESTARTS:
                slot.failed = True
                self.progressed.set()  # whoever waits on the workers learns one is gone
                return
            self._restart(slot, child)
            starting = slot.starting
            assert starting is not None
            with contextlib.suppress(IngestChildError):
                await starting  # a worker that dies before subscribing is the next death
            slot.starting = None

    def _restart(self, slot: _Slot, dead: IngestChild) -> None:
        """Put a new worker with the dead one's settings in ``slot``, reading back the sink."""
        slot.restarts += 1
        settings = dead.settings
        reason = dead.exit_reason
        self.restarts.append(
            WorkerRestart(client_id=settings.client_id, exit_status=dead.returncode, reason=reason)
        )
        slot.interim = slot.snapshot()
        if dead.progress is not None:
            left = dead.progress.carried()
            if slot.carried is None:
                slot.carried = left
            else:
                rows_before = slot.carried.rows_before
                slot.carried.merge(left)
                slot.carried.rows_before = rows_before
        kept = "its kept session" if settings.session_expiry_s else "a new session"
        note = (
            f"ingest worker {settings.client_id} {reason}; restarted it on {kept} "
            f"({slot.restarts} of {MAX_RESTARTS} restarts)"
        )
        if self._say is not None:
            self._say(note)
        new = IngestChild(
            dataclasses.replace(settings, resume_from_sink=True, run_id=dead.run_id),
            progressed=self.progressed,
        )
        new.commit_delay_s = self._commit_delay_s
        slot.child = new
        timeout_s = max(self._start_timeout_s, RESTART_TIMEOUT_S)
        slot.starting = asyncio.ensure_future(new.start(timeout_s))

    async def _end_watchers(self) -> None:
        for watcher in self._watchers:
            watcher.cancel()
        for watcher in self._watchers:
            with contextlib.suppress(asyncio.CancelledError):
                await watcher


def _count(snap: IngestSnapshot | None, name: str) -> int:
    return int(getattr(snap, name)) if snap is not None else 0


def _merged(snapshots: Iterable[IngestSnapshot | None]) -> IngestSnapshot | None:
    total: IngestSnapshot | None = None
    for snap in snapshots:
        if snap is None:
            continue
        if total is None:
            total = IngestSnapshot.from_dict(snap.to_dict())  # a copy to add the others to
        else:
            total.merge(snap)
    return total
