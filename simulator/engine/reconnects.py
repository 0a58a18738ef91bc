"""Bringing dropped connections back: one timer and a bounded pool of workers.

A dropped connection waits out an exponential, jittered backoff
(:mod:`simulator.transport.backoff`) in one heap of due times; one loop timer, armed for the
earliest, moves due connections to a ready queue, and at most ``limit`` worker tasks (the
onboarding concurrency) reconnect them. Nothing is kept per
connection but its link and attempt count while it is down: no timer or task per connection.
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
    ) -> None:
        self.policy = policy
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
