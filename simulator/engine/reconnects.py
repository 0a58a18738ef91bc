"""Bringing dropped connections back: one timer and a bounded pool of workers.

A dropped connection waits out an exponential, jittered backoff
(:mod:`simulator.transport.backoff`) in one heap of due times; one loop timer, armed for the
earliest, moves due connections to a ready queue, and at most ``limit`` worker tasks (the
onboarding concurrency) reconnect them, no faster than ``rate_per_s`` (the onboarding rate):
the jitter spreads a storm of drops, and the spacing caps what is left of it, so a lost uplink
of the whole fleet comes back at the rate the fleet first came, never above it. Nothing is
kept per connection but its link and attempt count while it is down: no timer or task per
connection.
"""

from __future__ import annotations

import asyncio
import heapq
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from simulator.transport.backoff import backoff_s
from simulator.transport.connection import MqttLink
from simulator.transport.connector import ConnectOutcome


class Spacing:
    """Drift-free spacing of reconnect attempts: the n-th of a burst may start ``n / rate_per_s``
    after its first, never earlier; time passed in, so it is pure."""

    __slots__ = ("_interval", "_next")

    def __init__(self, rate_per_s: float) -> None:
        if not rate_per_s > 0:
            raise ValueError(f"a spacing needs a rate above 0, got {rate_per_s!r}")
        self._interval = 1.0 / rate_per_s
        self._next = float("-inf")

    def wait_s(self, now: float) -> float:
        """Take the next slot: how long from ``now`` until it (0: at once)."""
        slot = max(now, self._next)
        self._next = slot + self._interval
        return slot - now


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """Exponential, jittered backoff of dropped connections (:mod:`simulator.transport.backoff`)."""

    min_s: float = 0.5
    max_s: float = 30.0


class Reconnects:
    """Reconnects dropped connections with backoff until stopped."""

    def __init__(
        self,
        policy: ReconnectPolicy,
        *,
        seed: int,
        limit: int,
        loop: asyncio.AbstractEventLoop,
        prepare: Callable[[int, MqttLink], None],
        attempt: Callable[[int, MqttLink], Awaitable[ConnectOutcome]],
        back: Callable[[int, MqttLink, ConnectOutcome], None],
        rate_per_s: float | None = None,
    ) -> None:
        """``rate_per_s``: the most attempts started per second (None: as fast as the
        workers go)."""
        self.policy = policy
        self._spacing = Spacing(rate_per_s) if rate_per_s is not None else None
        self._seed = seed
        self._limit = limit
        self._loop = loop
        self._prepare = prepare
        """Called before each attempt (a new will, say)."""
        self._attempt = attempt
        self._back = back
        """Called when a connection is back (its link connected again)."""
        self._due: list[tuple[float, int]] = []
        self._ready: deque[int] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._workers: set[asyncio.Task[None]] = set()
        self._dropped: dict[int, tuple[MqttLink, int]] = {}
        """Connections waiting to come back: their link and the attempts so far."""
        self.stopped = False

    def schedule(self, connection: int, link: MqttLink, attempt: int = 0) -> None:
        """Reconnect ``link`` after the backoff of its ``attempt``-th try."""
        if self.stopped:
            return
        policy = self.policy
        delay = backoff_s(attempt, connection, self._seed, min_s=policy.min_s, max_s=policy.max_s)
        self._dropped[connection] = (link, attempt)
        heapq.heappush(self._due, (self._loop.time() + delay, connection))
        self._arm()

    def stop(self) -> None:
        """Stop reconnecting: cancel the timer and the workers; links still down stay down."""
        self.stopped = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._due.clear()
        self._ready.clear()
        for task in self._workers:
            task.cancel()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._due and not self.stopped:
            self._timer = self._loop.call_at(self._due[0][0], self._fire)

    def _fire(self) -> None:
        self._timer = None
        now = self._loop.time()
        while self._due and self._due[0][0] <= now:
            self._ready.append(heapq.heappop(self._due)[1])
        while self._ready and len(self._workers) < self._limit:
            task = self._loop.create_task(self._work())
            self._workers.add(task)
            task.add_done_callback(self._workers.discard)
        self._arm()

    async def _work(self) -> None:
        while self._ready and not self.stopped:
            connection = self._ready.popleft()
            link, attempt = self._dropped[connection]
            if self._spacing is not None:
                wait = self._spacing.wait_s(self._loop.time())
                if wait > 0:
                    await asyncio.sleep(wait)
                    if self.stopped:
                        return
            self._prepare(connection, link)
            outcome = await self._attempt(connection, link)
            if self.stopped:
                link.abort()
                return
            if outcome.link is None:
                self.schedule(connection, link, attempt + 1)
                continue
            del self._dropped[connection]
            self._back(connection, link, outcome)
