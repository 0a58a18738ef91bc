"""gmqtt driven through one benchmark run at any QoS and over TLS.

The run of :mod:`clients.gmqtt_stack` (one ``gmqtt.Client`` per device, a pool of
``concurrency`` connect workers, then ``messages`` rounds of ``publish`` over every client),
with a TLS context and credentials when given, and at QoS 1 the acknowledgements counted and
waited for before disconnecting.

gmqtt has no callback for an outgoing message's PUBACK: its handler frees the packet id and
removes the stored packet from the client's ``persistent_storage``, a constructor argument.
Each client here gets a :class:`CountingStorage`, which counts those removals (one per
acknowledged message at QoS 1, where only a PUBACK removes one) and notes when the last one
happened. gmqtt does not read a PUBACK's reason code, so a refusal counts as acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable
from typing import Any

import gmqtt
from gmqtt.mqtt.constants import MQTTv50
from gmqtt.storage import PersistentStorage

from .common import StackArgs, StackFigures, say
from .workload import BenchDevice, Workload

KEEPALIVE_S = 60


class AckCounter:
    """Acknowledgements counted over every client of the run, and when the last one came."""

    __slots__ = ("_all_acked", "_expected", "acked", "clock", "last_ack_s")

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.acked = 0
        self.last_ack_s: float | None = None
        self._expected: int | None = None
        self._all_acked = asyncio.Event()

    def count(self) -> None:
        """One more acknowledgement, now."""
        self.acked += 1
        self.last_ack_s = self.clock()
        if self._expected is not None and self.acked >= self._expected:
            self._all_acked.set()

    async def wait_for(self, expected: int) -> None:
        """Return once ``expected`` messages have been acknowledged."""
        self._expected = expected
        if self.acked < expected:
            await self._all_acked.wait()


class CountingStorage(PersistentStorage):  # type: ignore[misc] # gmqtt has no type hints
    """gmqtt's in-memory store of unacknowledged messages, counting what leaves it."""

    def __init__(self, counter: AckCounter) -> None:
        super().__init__()
        self._counter = counter

    def remove_message_by_mid(self, mid: int) -> None:
        """Remove an acknowledged message, counting it if it was stored."""
        # The parent's own dict: a mid it does not hold (none here) must not be counted.
        if mid in self._messages:
            self._counter.count()
        super().remove_message_by_mid(mid)


async def run_gmqtt(
    name: str,
    args: StackArgs,
    workload: Workload,
    *,
    qos: int = 0,
    ssl_context: ssl.SSLContext | None = None,
    credentials: tuple[str, str] | None = None,
) -> StackFigures:
    """Connect, publish ``args.messages`` rounds at ``qos``, wait for the acknowledgements
    (at QoS 1), disconnect; return the figures."""
    figures = StackFigures(name, args.devices, args.messages)
    loop = asyncio.get_running_loop()
    encode = workload.encoder()
    counter = AckCounter(loop.time)

    figures.mark_baseline()
    devices = workload.build()
    # At QoS 0 nothing is stored, so the clients keep gmqtt's own storage: the plain
    # stack then measures gmqtt exactly as its users run it.
    clients = [
        gmqtt.Client(device.device_id, persistent_storage=CountingStorage(counter))
        if qos
        else gmqtt.Client(device.device_id)
        for device in devices
    ]
    if credentials is not None:
        for client in clients:
            client.set_auth_credentials(*credentials)
    connected: list[tuple[BenchDevice, Any]] = []
    next_index = 0
    first_start: float | None = None
    last_connack = 0.0
    tls: ssl.SSLContext | bool = ssl_context if ssl_context is not None else False

    async def worker() -> None:
        nonlocal next_index, first_start, last_connack
        while next_index < len(clients):
            index = next_index
            next_index += 1
            client = clients[index]
            begin = loop.time()
            if first_start is None:
                first_start = begin
            try:
                async with asyncio.timeout(args.connect_timeout_s):
                    await client.connect(
                        args.host, args.port, ssl=tls, version=MQTTv50, keepalive=KEEPALIVE_S
                    )
            # gmqtt's set of connect errors is not documented; every failure is counted by kind.
            except Exception as exc:
                figures.count_failure(exc)
                with contextlib.suppress(Exception):
                    await client.disconnect()
                continue
            last_connack = loop.time()
            connected.append((devices[index], client))

    say(f"{name}: connecting {len(clients):,} clients")
    async with asyncio.timeout(args.phase_timeout_s):
        await asyncio.gather(*(worker() for _ in range(min(args.concurrency, len(clients)))))
    figures.connected = len(connected)
    if first_start is not None and connected:
        figures.connect_s = last_connack - first_start
    figures.mark_connected()

    say(f"{name}: publishing {args.messages} messages at QoS {qos} from {len(connected):,}")
    epoch = loop.time()
    figures.publish_start_wall_ns = time.time_ns()
    try:
        async with asyncio.timeout(args.phase_timeout_s):
            for seq in range(args.messages):
                ts_ns = time.time_ns()
                t_s = loop.time() - epoch
                for device, client in connected:
                    client.publish(device.topic, encode(device, seq, ts_ns, t_s), qos=qos)
                figures.sent += len(connected)
                await asyncio.sleep(0)
        figures.publish_s = loop.time() - epoch
        figures.publish_end_wall_ns = time.time_ns()
        if qos:
            async with asyncio.timeout(args.phase_timeout_s):
                await counter.wait_for(figures.sent)
    except TimeoutError:
        figures.notes.append(
            f"{name}: a phase did not finish within {args.phase_timeout_s:g} s "
            f"(sent {figures.sent:,}, acked {counter.acked:,})"
        )
    if qos:
        figures.extra["qos"] = qos
        figures.extra["acked"] = counter.acked
        # gmqtt does not read PUBACK reason codes: a refusal cannot be told from an ack.
        figures.extra["refused"] = None
        last = counter.last_ack_s
        figures.extra["ack_s"] = last - epoch if last is not None else None

    say(f"{name}: disconnecting")
    try:
        async with asyncio.timeout(args.phase_timeout_s):
            await asyncio.gather(*(client.disconnect() for _, client in connected))
    except TimeoutError:
        figures.notes.append(f"disconnect did not finish within {args.phase_timeout_s:g} s")
    return figures
