"""The engine driven through one benchmark run at any QoS and over TLS.

Every engine stack runs this one function: build after the baseline memory reading, onboard
with publishing held back, then publish ``messages`` per device; plus what the QoS 1 and TLS
stacks add (a TLS context and credentials for the fleet, and, at QoS 1 or 2, waiting for the
broker's last acknowledgement before disconnecting) and what the watched stack adds (a
watcher running beside the fleet). Closing a link with
messages in flight would throw their PUBACKs away, so the run is over only when every
published message has been acknowledged or refused.

The acknowledged rate is acknowledgements over the time from the first publish to the last
acknowledgement; :class:`AckTimedFleet` notes when that last one arrived. ``publish_cpu_s`` is
the process's CPU time over the same phase (until the last acknowledgement at QoS 1 and 2), so
divided by the messages it is the engine's CPU cost per message, onboarding left out.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import time
from collections.abc import Callable, Coroutine
from typing import Any

from simulator.engine.fleet import Fleet, FleetOptions
from simulator.mqtt import Event
from simulator.scenario import OnboardingPlan, Scenario
from simulator.transport.connection import MqttLink
from simulator.transport.credentials import Credentials
from simulator.transport.endpoint import Endpoint
from simulator.transport.tls_link import TlsClient, TlsLayer

from .common import StackArgs, StackFigures, say


class AckTimedFleet(Fleet):
    """A fleet that notes, on the event loop's clock, when its last acknowledgement arrived."""

    def __init__(
        self,
        scenario: Scenario,
        endpoint: Endpoint,
        *,
        loop: asyncio.AbstractEventLoop,
        **options: Any,
    ) -> None:
        super().__init__(scenario, endpoint, loop=loop, **options)
        self._clock = loop.time
        self.last_ack_s: float | None = None
        """Loop time of the last PUBACK or PUBCOMP (acknowledged or refused); None before."""
        self._expected: int | None = None
        self._all_answered = asyncio.Event()

    def on_events(self, link: MqttLink, events: list[Event]) -> None:
        """Count as the fleet does, and note the time when the count moved."""
        counters = self.counters
        before = counters.acked + counters.refused
        super().on_events(link, events)
        answered = counters.acked + counters.refused
        if answered != before:
            self.last_ack_s = self._clock()
            if self._expected is not None and answered >= self._expected:
                self._all_answered.set()

    async def wait_answered(self) -> None:
        """Return once every message published so far is acknowledged or refused."""
        counters = self.counters
        self._expected = counters.published
        if counters.acked + counters.refused >= self._expected:
            return
        await self._all_answered.wait()


def _cpu_s() -> float:
    times = os.times()
    return times.user + times.system


async def run_engine(
    name: str,
    args: StackArgs,
    scenario: Scenario,
    *,
    ssl_context: ssl.SSLContext | None = None,
    tls_layer: TlsLayer = "resume",
    tls_client: TlsClient | None = None,
    credentials: Credentials | None = None,
    figures: StackFigures | None = None,
    watch: Callable[[Fleet], Coroutine[Any, Any, None]] | None = None,
    merge_overdue: bool = True,
) -> StackFigures:
    """Onboard ``scenario``'s fleet, publish, wait for the acknowledgements, disconnect.

    ``tls_client`` replaces the connector's TLS layer (a probe's variant of it).

    ``figures`` (a fresh one by default) is filled in and returned; ``watch``, if given, runs
    beside the fleet until the end; ``merge_overdue=False`` sends one message per write even
    when behind (see :class:`~simulator.engine.fleet.Fleet`).
    """
    if figures is None:
        figures = StackFigures(name, args.devices, args.messages)
    loop = asyncio.get_running_loop()
    endpoint = Endpoint(
        args.host, args.port, tls=ssl_context, tls_layer=tls_layer, credentials=credentials
    )
    fleet = AckTimedFleet(
        scenario,
        endpoint,
        loop=loop,
        wall_ns=time.time_ns,
        options=FleetOptions(messages_per_device=args.messages, merge_overdue=merge_overdue),
    )
    if tls_client is not None:
        fleet.connector.tls = tls_client
    figures.mark_baseline()
    fleet.build()
    watcher = asyncio.create_task(watch(fleet)) if watch is not None else None
    plan = OnboardingPlan(scenario.fleet.devices, scenario.onboarding.rate_per_s)
    start: float | None = None

    say(f"{name}: onboarding {scenario.fleet.devices:,} devices")
    try:
        async with asyncio.timeout(args.phase_timeout_s):
            stats = await fleet.onboard(plan, publish_while_onboarding=False)
        figures.connected = stats.connected
        figures.failed = stats.failed
        figures.failures = dict(stats.failures)
        if stats.first_start is not None and stats.last_connected is not None:
            figures.connect_s = stats.last_connected - stats.first_start
        figures.mark_connected()

        say(f"{name}: publishing {stats.connected * args.messages:,} messages at QoS {fleet.qos}")
        start = loop.time()
        figures.publish_start_wall_ns = time.time_ns()
        start_cpu = _cpu_s()
        fleet.start_publishing()
        async with asyncio.timeout(args.phase_timeout_s):
            await fleet.wait_finished()
        figures.publish_s = loop.time() - start
        figures.publish_end_wall_ns = time.time_ns()
        if fleet.qos:
            async with asyncio.timeout(args.phase_timeout_s):
                await fleet.wait_answered()
        figures.extra["publish_cpu_s"] = _cpu_s() - start_cpu
    except TimeoutError:
        counters = fleet.counters
        figures.notes.append(
            f"{name}: a phase did not finish within {args.phase_timeout_s:g} s (connected "
            f"{fleet.connected:,}, published {counters.published:,}, acked {counters.acked:,})"
        )
    finally:
        counters = fleet.counters
        figures.sent = counters.published
        figures.extra["overrun"] = fleet.overrun
        figures.extra["dropped_links"] = counters.dropped_links
        tls = fleet.connector.tls
        if tls is not None:
            figures.extra["tls_handshakes"] = tls.handshakes
            figures.extra["tls_resumed"] = tls.resumed
        if fleet.qos:
            figures.extra["qos"] = fleet.qos
            figures.extra["acked"] = counters.acked
            figures.extra["refused"] = counters.refused
            figures.extra["inflight_blocked"] = counters.inflight_blocked
            last = fleet.last_ack_s
            figures.extra["ack_s"] = (
                last - start if last is not None and start is not None else None
            )
        fleet.stop_publishing()
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        say(f"{name}: disconnecting")
        await fleet.disconnect_all()
    return figures
