"""The gmqtt stack: one ``gmqtt.Client`` per device, on uvloop.

Connects go through a pool of ``concurrency`` worker tasks (the engine's connector has the same
shape), so at most that many connects are pending. Publishing is one loop over every client per
round, ``messages`` rounds, with a yield to the event loop between rounds; gmqtt's ``publish``
writes a QoS 0 message to the transport at once, so this is as fast as gmqtt can be driven.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import gmqtt
import uvloop
from gmqtt.mqtt.constants import MQTTv50

from .common import StackArgs, StackFigures, parse_args, prepare_process, report, say
from .workload import BenchDevice, Workload, bench_scenario

KEEPALIVE_S = 60


async def run(args: StackArgs) -> StackFigures:
    """Connect, publish and disconnect every device; return the figures."""
    figures = StackFigures("gmqtt", args.devices, args.messages)
    loop = asyncio.get_running_loop()
    workload = Workload(bench_scenario(args.host, args.port, args.devices, args.concurrency))
    encode = workload.encoder()

    figures.mark_baseline()
    devices = workload.build()
    clients = [gmqtt.Client(device.device_id) for device in devices]
    connected: list[tuple[BenchDevice, gmqtt.Client]] = []
    next_index = 0
    first_start: float | None = None
    last_connack = 0.0

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
                        args.host, args.port, version=MQTTv50, keepalive=KEEPALIVE_S
                    )
            # gmqtt's set of connect errors is not documented; every failure is counted by kind.
            except Exception as exc:
                figures.count_failure(exc)
                with contextlib.suppress(Exception):
                    await client.disconnect()
                continue
            last_connack = loop.time()
            connected.append((devices[index], client))

    say(f"gmqtt: connecting {len(clients):,} clients")
    async with asyncio.timeout(args.phase_timeout_s):
        await asyncio.gather(*(worker() for _ in range(min(args.concurrency, len(clients)))))
    figures.connected = len(connected)
    if first_start is not None and connected:
        figures.connect_s = last_connack - first_start
    figures.mark_connected()

    say(f"gmqtt: publishing {args.messages} messages from each of {len(connected):,} clients")
    epoch = loop.time()
    figures.publish_start_wall_ns = time.time_ns()
    async with asyncio.timeout(args.phase_timeout_s):
        for seq in range(args.messages):
            ts_ns = time.time_ns()
            t_s = loop.time() - epoch
            for device, client in connected:
                client.publish(device.topic, encode(device, seq, ts_ns, t_s), qos=0)
            figures.sent += len(connected)
            await asyncio.sleep(0)
    figures.publish_s = loop.time() - epoch
    figures.publish_end_wall_ns = time.time_ns()

    say("gmqtt: disconnecting")
    try:
        async with asyncio.timeout(args.phase_timeout_s):
            await asyncio.gather(*(client.disconnect() for _, client in connected))
    except TimeoutError:
        figures.notes.append(f"disconnect did not finish within {args.phase_timeout_s:g} s")
    return figures


def main() -> None:
    """Entry point: ``python -m clients.gmqtt_stack --port P --devices N --messages M``."""
    args = parse_args(__doc__ or "gmqtt stack")
    prepare_process()
    # gmqtt logs every connection event; at 10,000 clients that is noise, not information.
    logging.getLogger("gmqtt").setLevel(logging.ERROR)
    report(uvloop.run(run(args)))


if __name__ == "__main__":
    main()
