"""The fleet's keepalive: one wheel of links, pinged at the interval the first CONNACK set.

Every connection goes to the same broker, so its first CONNACK's keepalive (the broker's
Server Keep Alive if it names one, else ours) holds for all of them; a broker that asks for a
shorter keepalive than ours thus gets its pings in time. The wheel exists only when devices
publish less often than that interval (more often, their messages keep the link alive) or the
fleet has gateways. Each tick is :func:`~simulator.transport.keepalive.keep_alive` over the
slot's links, which also finds brokers gone silent.
"""

from __future__ import annotations

import asyncio

from simulator.engine.devices import FleetCounters
from simulator.engine.publishing import CATCH_UP_REPEATS
from simulator.engine.scheduler import Scheduler
from simulator.engine.wheel import TimingWheel
from simulator.transport.connection import MqttLink
from simulator.transport.keepalive import keep_alive

PING_SLOT_S = 0.05
"""Phase resolution of the ping wheel: links due within 50 ms are pinged together."""


class PingWheel:
    """Keeps a fleet's links alive from one wheel on the fleet's scheduler, once it exists."""

    def __init__(
        self, scheduler: Scheduler, loop: asyncio.AbstractEventLoop, counters: FleetCounters
    ) -> None:
        self._scheduler = scheduler
        self._loop = loop
        self._counters = counters
        self.wheel: TimingWheel[MqttLink] | None = None
        """None until the first CONNACK, and for good if the fleet needs no pings."""

    def start(self, ping_interval: float, epoch: float, *, needed: bool) -> None:
        """At the first CONNACK: turn every ``ping_interval`` from ``epoch`` if ``needed``."""
        if not ping_interval or not needed:
            return
        # Merging matters here too: a wheel catching up pings each link once per handover.
        self.wheel = TimingWheel(ping_interval, PING_SLOT_S, epoch, max_repeats=CATCH_UP_REPEATS)
        self.wheel.skip_to(self._loop.time())
        self._scheduler.add_wheel(self.wheel, self._ping)

    def add(self, link: MqttLink, phase_s: float) -> None:
        """Keep ``link`` alive, pinged in the slot of ``phase_s``."""
        if self.wheel is not None:
            self.wheel.add(link, phase_s % self.wheel.interval_s)

    def remove(self, link: MqttLink, phase_s: float) -> None:
        """Stop pinging ``link`` (added with ``phase_s``)."""
        if self.wheel is not None:
            self.wheel.remove(link, phase_s % self.wheel.interval_s)

    def _ping(self, due: float, links: list[MqttLink], repeats: int) -> None:
        # However many pings are overdue, one per link says the same (``repeats`` is ignored),
        # and silence is measured on the loop's clock, not in due times: a wheel catching up
        # has not given the broker time to answer.
        self._counters.dead_links += keep_alive(links, self._loop.time())
