"""The aiomqtt stack: one ``aiomqtt.Client`` per device, one task per device, on uvloop.

This is how aiomqtt is meant to be used: ``async with Client(...) as client:`` inside the task
that owns the connection, ``await client.publish(...)`` for each message, and leaving the block
disconnects. A semaphore of ``concurrency`` bounds the connects pending at once; every task then
waits at a gate until all devices have tried to connect, so the memory reading sees every
connection up and no message in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import aiomqtt
import uvloop

from .common import StackArgs, StackFigures, parse_args, prepare_process, report, say
from .workload import BenchDevice, Workload, bench_scenario

KEEPALIVE_S = 60


async def run(args: StackArgs) -> StackFigures:
    """Connect, publish and disconnect every device; return the figures."""
    figures = StackFigures("aiomqtt", args.devices, args.messages)
    loop = asyncio.get_running_loop()
    workload = Workload(bench_scenario(args.host, args.port, args.devices, args.concurrency))
    encode = workload.encoder()

    figures.mark_baseline()
    devices = workload.build()
    clients = [
        aiomqtt.Client(
            args.host,
            args.port,
            identifier=device.device_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            keepalive=KEEPALIVE_S,
            timeout=args.connect_timeout_s,
        )
        for device in devices
    ]
    connect_gate = asyncio.Semaphore(args.concurrency)
    all_attempted = asyncio.Event()
    publish_gate = asyncio.Event()
    epoch = 0.0
    first_start: float | None = None
    last_connack = 0.0
    last_sent = 0.0

    def attempted() -> None:
        if figures.connected + figures.failed == len(clients):
            all_attempted.set()

    async def device_task(device: BenchDevice, client: aiomqtt.Client) -> None:
        nonlocal first_start, last_connack, last_sent
        async with contextlib.AsyncExitStack() as stack:
            async with connect_gate:
                begin = loop.time()
                if first_start is None:
                    first_start = begin
                try:
                    await stack.enter_async_context(client)
                except aiomqtt.MqttError as exc:
                    figures.count_failure(exc)
                    attempted()
                    return
            last_connack = loop.time()
            figures.connected += 1
            attempted()
            await publish_gate.wait()
            for seq in range(args.messages):
                payload = encode(device, seq, time.time_ns(), loop.time() - epoch)
                await client.publish(device.topic, payload, qos=0)
                figures.sent += 1
            last_sent = loop.time()

    say(f"aiomqtt: connecting {len(clients):,} clients, one task each")
    tasks = [
        asyncio.create_task(device_task(device, client))
        for device, client in zip(devices, clients, strict=True)
    ]
    try:
        async with asyncio.timeout(args.phase_timeout_s):
            await all_attempted.wait()
        if first_start is not None and figures.connected:
            figures.connect_s = last_connack - first_start
        figures.mark_connected()

        say(f"aiomqtt: publishing {args.messages} messages from each of {figures.connected:,}")
        epoch = loop.time()
        figures.publish_start_wall_ns = time.time_ns()
        publish_gate.set()
        async with asyncio.timeout(args.phase_timeout_s * 2):
            await asyncio.gather(*tasks)
        figures.publish_s = max(last_sent - epoch, 0.0)
        figures.publish_end_wall_ns = figures.publish_start_wall_ns + int(figures.publish_s * 1e9)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return figures


def main() -> None:
    """Entry point: ``python -m clients.aiomqtt_stack --port P --devices N --messages M``."""
    args = parse_args(__doc__ or "aiomqtt stack")
    prepare_process()
    # aiomqtt logs through the "mqtt" logger; per-connection lines would flood the terminal.
    logging.getLogger("mqtt").setLevel(logging.ERROR)
    report(uvloop.run(run(args)))


if __name__ == "__main__":
    main()
