"""The fault relay's cost: CPU per chunk it passes on, at many connections, per link condition.

The relay (``simulator/transport/relay.py``) runs alone in this process; a child process (this
script with ``--role load``) holds a sink server and ``--connections`` client connections made
through the relay, and writes one 64-byte chunk per connection every ``--interval`` seconds
(spread evenly, drift-free), counting what reaches its sink. For each condition (the link
clear, 200 ms +-20 ms of latency, the same with 2% loss, and a partition that holds
everything) this process's CPU time is measured over ``--seconds`` after a settling second,
divided by the chunks the sink received meanwhile (for the partition: by the chunks sent).
Reported: CPU per chunk, the relay's RSS per connection, and the machine's load before and
after. One timer serves every connection, so the cost per chunk should not grow with the
connections; this measures whether it does.

Each relayed connection takes two descriptors in this process and two in the child, so
``--connections`` is bounded by ``ulimit -n`` / 2.

Usage (from the repository root)::

    .venv/bin/python bench/relay.py --connections 9000 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import subprocess
import sys
import time

import uvloop

from simulator.metrics.process import rss_bytes
from simulator.transport.link import Impairment
from simulator.transport.relay import Relay

CHUNK = b"x" * 64


class _Sink(asyncio.Protocol):
    received = 0
    target = 0
    reached: asyncio.Event | None = None

    def data_received(self, data: bytes) -> None:
        _Sink.received += len(data) // len(CHUNK)
        if _Sink.reached is not None and _Sink.received >= _Sink.target:
            _Sink.reached.set()


async def load(connections: int, interval_s: float) -> None:
    """The child: a sink, then connections through the relay named on stdin, then chunks."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Sink, "127.0.0.1", 0, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    port = int(await loop.run_in_executor(None, sys.stdin.readline))
    transports: list[asyncio.Transport] = []
    for n in range(connections):
        transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        transports.append(transport)
        if n % 500 == 499:
            await asyncio.sleep(0.01)
    # One chunk through every connection: once the sink has them all, every one is relayed.
    _Sink.target, _Sink.reached = connections, asyncio.Event()
    for transport in transports:
        transport.write(CHUNK)
    await _Sink.reached.wait()
    print("connected", flush=True)
    start = loop.time()
    ticks_per_interval = 100
    tick_s = interval_s / ticks_per_interval
    per_tick = max(1, connections // ticks_per_interval)
    sent = 0
    tick = 0
    next_report = start + 1.0
    while True:
        tick += 1
        await asyncio.sleep(max(0.0, start + tick * tick_s - loop.time()))
        first = (tick * per_tick) % connections
        for transport in transports[first : first + per_tick]:
            transport.write(CHUNK)
        sent += per_tick
        if loop.time() >= next_report:
            next_report += 1.0
            print(f"{sent} {_Sink.received}", flush=True)


async def measure(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--role",
        "load",
        "--connections",
        str(args.connections),
        "--interval",
        str(args.interval),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    try:
        sink_port = int(await child.stdout.readline())
        relay = Relay([("127.0.0.1", sink_port)], loop=loop, rng=random.Random(1))
        ((_, port),) = await relay.start()
        base_rss = rss_bytes()
        child.stdin.write(f"{port}\n".encode())
        assert (await child.stdout.readline()).strip() == b"connected"
        print(
            f"{relay.open:,} connections relayed; relay RSS "
            f"{(rss_bytes() - base_rss) / max(1, relay.open):,.0f} B per connection",
            file=sys.stderr,
        )
        latest = [0, 0]

        async def follow() -> None:
            assert child.stdout is not None
            while line := await child.stdout.readline():
                sent, received = line.split()
                latest[:] = [int(sent), int(received)]

        follower = asyncio.create_task(follow())
        conditions: list[tuple[str, Impairment | None, bool]] = [
            ("clear", None, False),
            ("200 ms +-20 ms", Impairment(0.2, 0.02, 0.0), False),
            ("200 ms +-20 ms, 2% loss", Impairment(0.2, 0.02, 0.02), False),
            ("partition (held)", None, True),
        ]
        print(f"{'condition':<26} {'chunks/s':>10} {'CPU us/chunk':>13} {'CPU %':>7}")
        for name, impairment, held in conditions:
            if impairment is not None:
                relay.impair(impairment)
            if held:
                relay.hold()
            await asyncio.sleep(1.5)
            sent0, received0 = latest
            cpu0, wall0 = time.process_time(), time.monotonic()
            await asyncio.sleep(args.seconds)
            cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
            sent, received = latest[0] - sent0, latest[1] - received0
            chunks = sent if held else received
            print(
                f"{name:<26} {chunks / wall:>10,.0f} {cpu / max(1, chunks) * 1e6:>13.2f} "
                f"{cpu / wall * 100:>7.1f}",
                flush=True,
            )
            if impairment is not None:
                relay.restore(impairment)
            if held:
                relay.unhold()
        follower.cancel()
        await relay.close()
    finally:
        if child.returncode is None:
            child.kill()
        await child.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role", choices=("measure", "load"), default="measure")
    parser.add_argument("--connections", type=int, default=4000)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between chunks")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.role == "load":
        uvloop.run(load(args.connections, args.interval))
        return
    print(f"load average before: {os.getloadavg()[0]:.2f}", file=sys.stderr)
    uvloop.run(measure(args))
    print(f"load average after: {os.getloadavg()[0]:.2f}", file=sys.stderr)


if __name__ == "__main__":
    main()
