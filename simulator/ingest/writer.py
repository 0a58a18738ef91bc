"""The sink writer: one thread between the ingest worker and its sink, and its bookkeeping.

Batches go to the sink on one writer thread, so a slow disk never stalls the socket. A batch
counts only once its transaction has committed: the writer keeps, per batch, how many of its
rows were new (device, sequence) pairs, and adds them to ``committed_unique`` when the sink
returns, or to ``failed_unique`` when it gives up. Nothing is dropped in silence:

- a failing write is tried again with a growing pause (50 ms doubling to 1 s) while the sink's
  outage is younger than ``retry_s``; the outage starts at the first failure and ends at the
  next success;
- past ``retry_s`` the batch is given up: its rows are counted as failed under the error's
  reason (``disk_full``, ``locked``, ...), and while the outage lasts later batches get one
  attempt each at most once a second (a probe, so a sink that comes back is used again) and
  are given up at once otherwise, so stopping stays bounded;
- while ``max_pending`` batches wait for the thread, the worker stops reading from the broker
  (``pause(True)``), so memory stays bounded and TCP pushes back on the broker; it reads again
  when half of them are done;
- with ``commit_delay_s`` set (a ``slow_sink`` fault), each batch waits that long on the
  thread before its commit, so batches queue up behind it as behind a slow database;
- a batch submitted with ``acks_through`` hands that number to ``release`` once it is done,
  committed or given up, in the order batches were submitted: the worker then acknowledges
  the broker's messages up to there (a given-up batch too: its rows are counted lost, and
  holding their messages unacknowledged for ever would stall the broker's window).

The clock and the pause are injected: tests drive retries without waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from simulator.errors import SinkError
from simulator.sinks import Malformed, Row, Sink

FIRST_PAUSE_S = 0.05
LONGEST_PAUSE_S = 1.0
PROBE_EVERY_S = 1.0


class SinkWriter:
    """Writes batches on one thread, retries within bounds, counts what committed and failed."""

    def __init__(
        self,
        sink: Sink,
        *,
        loop: asyncio.AbstractEventLoop,
        retry_s: float,
        max_pending: int,
        pause: Callable[[bool], None],
        release: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.sink = sink
        self.committed_unique = 0
        self._committed_before = 0
        """Rows of the run a worker before this one committed (see :meth:`seed`)."""
        self.failed_rows = 0
        self.failed_unique = 0
        self.errors: dict[str, int] = {}
        """Rows given up on, by reason."""
        self.first_error: SinkError | None = None
        self.retries = 0
        """Write attempts that failed and were tried again (written by the writer thread)."""
        self.pending_rows = 0
        self._loop = loop
        self._retry_s = retry_s
        self._max_pending = max_pending
        self._pause = pause
        self._release = release
        self._paused = False
        self._clock = clock
        self._sleep = sleep
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sink-writer")
        self._pending: set[Future[None]] = set()
        # Touched by the writer thread only.
        self._outage_since: float | None = None
        self._last_attempt = 0.0
        self._last_error: SinkError | None = None
        self.commit_delay_s = 0.0
        """Waited before each batch's commit (a ``slow_sink`` fault; read by the thread)."""

    @property
    def committed_rows(self) -> int:
        """Rows (duplicates included) the sink has committed for the run."""
        return self._committed_before + self.sink.rows_written

    def seed(self, rows: int, unique: int) -> None:
        """Count ``rows`` (``unique`` distinct messages) that a worker before this one committed
        for the run, so the counts are the run's (a restarted worker)."""
        self._committed_before += rows
        self.committed_unique += unique

    def submit(self, rows: list[Row], unique: int, acks_through: int | None = None) -> None:
        """Write ``rows``, of which ``unique`` are messages not seen before, on the thread; once
        done, hand ``acks_through`` (when given) to ``release``."""
        if not rows:
            return
        self.pending_rows += len(rows)
        future = self._executor.submit(self._store, rows)
        self._track(future, len(rows), unique, acks_through)

    def submit_malformed(self, items: list[Malformed]) -> None:
        """Keep undecodable messages aside (their count is the accounting's, not ours)."""
        if items:
            self._track(self._executor.submit(self._store_malformed, items), 0, 0)

    async def drain(self) -> None:
        """Wait until every batch submitted so far has committed or been given up."""
        while self._pending:
            await asyncio.gather(
                *(asyncio.wrap_future(f) for f in list(self._pending)), return_exceptions=True
            )
            # The done callbacks run on the loop after the futures resolve: let them.
            await asyncio.sleep(0)

    async def close(self) -> None:
        """Drain, then close the sink on its own thread."""
        await self.drain()
        await self._loop.run_in_executor(self._executor, self.sink.close)
        self._executor.shutdown(wait=True)

    # the writer thread

    def _store(self, rows: Sequence[Row]) -> None:
        delay = self.commit_delay_s
        if delay:
            self._sleep(delay)
        self._attempt(lambda: self.sink.write_batch(rows))

    def _store_malformed(self, items: Sequence[Malformed]) -> None:
        self._attempt(lambda: self.sink.write_malformed(items))

    def _attempt(self, write: Callable[[], None]) -> None:
        pause = FIRST_PAUSE_S
        while True:
            now = self._clock()
            since = self._outage_since
            last = self._last_error
            given_up = since is not None and now - since >= self._retry_s
            if given_up and last is not None and now - self._last_attempt < PROBE_EVERY_S:
                raise SinkError(str(last), last.reason)
            self._last_attempt = now
            try:
                write()
            except SinkError as exc:
                if self._outage_since is None:
                    self._outage_since = now
                self._last_error = exc
                if exc.reason == "closed" or now - self._outage_since >= self._retry_s:
                    raise
                self.retries += 1
                self._sleep(min(pause, self._retry_s - (now - self._outage_since)))
                pause = min(pause * 2, LONGEST_PAUSE_S)
                continue
            self._outage_since = None
            return

    # back on the loop

    def _track(
        self, future: Future[None], rows: int, unique: int, acks_through: int | None = None
    ) -> None:
        self._pending.add(future)
        if len(self._pending) >= self._max_pending and not self._paused:
            self._paused = True
            self._pause(True)
        future.add_done_callback(
            lambda f: self._loop.call_soon_threadsafe(self._done, f, rows, unique, acks_through)
        )

    def _done(self, future: Future[None], rows: int, unique: int, acks_through: int | None) -> None:
        self._pending.discard(future)
        self.pending_rows -= rows
        exc = future.exception()
        if exc is None:
            self.committed_unique += unique
        else:
            error = exc if isinstance(exc, SinkError) else SinkError(f"{self.sink.kind}: {exc}")
            self.failed_rows += rows
            self.failed_unique += unique
            if rows:
                self.errors[error.reason] = self.errors.get(error.reason, 0) + rows
            if self.first_error is None:
                self.first_error = error
        if self._paused and len(self._pending) <= self._max_pending // 2:
            self._paused = False
            self._pause(False)
        if acks_through is not None and self._release is not None:
            self._release(acks_through)
