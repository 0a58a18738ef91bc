"""CPU of one OPC UA server per tag update, and per value read by a gateway polling every tag.

Starts ``factory-sim southbound`` as a child process (uvloop, as users run it) with
``protocol = "opcua"``, one server, every value changing each ``--update`` seconds, on a fleet
of ``--devices`` machines (1,563 by default: 20,007 tags). Then three windows of
``--seconds`` each, after ``--warmup``:

1. *updates*: nobody reading; the CPU of the child and of its OPC UA process (user + system,
   from /proc, added up) divided by the values its updater wrote in the window (read from the
   server's own counters, ``ns=2;s=simulator.writes``, as are the steps it skipped by coming
   late);
2. *polled*: an asyncua client in this process reads every tag once per ``--interval`` in Read
   requests of ``--batch`` nodes, all of a round in flight at once, as a polling gateway does
   (drift-free: round n is due at start + n * interval, a late one counted as an overrun, never
   skipped); the child's CPU less its updater's (the first window's CPU per value written,
   times the values written), divided by the values read, is the CPU per served value;
3. *subscribed*: the same client subscribes to every tag instead (one subscription, publishing
   interval ``--interval``, monitored items created ``--batch`` at a time), as OPC Publisher and
   most SCADA gateways do; the child's CPU less its updater's, divided by the new values the
   updater handed to the subscription (``simulator.notified``), and divided by the
   notifications the client received.

The clients' watchdog (a read of the server's state that must answer within
``watchdog_intervall``, 1 s by default) is set to 30 s: a round of 20,000 reads keeps the
server's loop and the client's busy for about a second on this machine, and asyncua's client
would declare the connection lost. Also reported: how long the child took from start to
listening with every node built, its resident memory, and the updater's own count of steps it
skipped by coming late. Run:

    .venv/bin/python bench/southbound_opcua.py [--devices 1563] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from asyncua import Client, ua
from southbound_modbus import PLANT, cpu_seconds, served, serving_processes

ROOT = Path(__file__).resolve().parent.parent

SCENARIO = (
    'name = "southbound-opcua-bench"\n'
    + PLANT
    + '[southbound]\nprotocol = "opcua"\nupdate_s = {update}\n[southbound.opcua]\nport = 0\n'
)


def rss_bytes(pid: int) -> int:
    """Resident memory of process ``pid`` and its children (the OPC UA process)."""
    total = 0
    for each in serving_processes(pid):
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def connect(hint: dict[str, Any]) -> Client:
    """A client of the (first) server; see the module docstring for the watchdog."""
    return Client(hint["opcua"]["servers"][0]["url"], timeout=60, watchdog_intervall=30.0)


class Window:
    """The server's CPU, this process's CPU and the updater's counters over one window."""

    def __init__(self, pid: int, client: Client, hint: dict[str, Any]) -> None:
        self.pids = serving_processes(pid)
        """The command and its OPC UA process (``[southbound.opcua] process = "own"``)."""
        self.client = client
        self.counters = {
            name: client.get_node(ua.NodeId.from_string(node_id))
            for name, node_id in hint["opcua"]["counters"].items()
        }
        self.at: dict[str, float] = {}

    async def snapshot(self) -> dict[str, float]:
        values = await self.client.read_values(list(self.counters.values()))
        taken = dict(zip(self.counters, values, strict=True))
        cpu = sum(cpu_seconds(pid) for pid in self.pids)
        taken.update(cpu=cpu, wall=time.time(), own=time.process_time())
        return taken

    async def open(self) -> None:
        self.at = await self.snapshot()

    async def close(self) -> dict[str, float]:
        """What changed since :meth:`open`."""
        end = await self.snapshot()
        return {key: end[key] - self.at[key] for key in end}


def per(cpu_s: float, count: float) -> float | None:
    """Microseconds of ``cpu_s`` per one of ``count``."""
    return round(1e6 * cpu_s / count, 2) if count else None


async def updates_only(pid: int, hint: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Nobody reading: the server's CPU per value its updater wrote."""
    async with connect(hint) as client:
        window = Window(pid, client, hint)
        await asyncio.sleep(args.warmup)
        await window.open()
        await asyncio.sleep(args.seconds)
        done = await window.close()
    return {
        "window_s": round(done["wall"], 2),
        "tag_updates": int(done["writes"]),
        "skipped_steps": int(done["skipped_steps"]),
        "server_cpu_share_of_a_core": round(done["cpu"] / done["wall"], 4),
        "server_cpu_us_per_tag_update": per(done["cpu"], done["writes"]),
    }


async def polled(
    pid: int, hint: dict[str, Any], us_per_update: float, args: argparse.Namespace
) -> dict[str, Any]:
    """Read every tag once per interval; the server's CPU, less its updater's at
    ``us_per_update`` per value written, per value read."""
    opcua = hint["opcua"]
    node_ids = [node for device in opcua["devices"] for node in device["nodes"].values()]
    reads = bad = overruns = 0
    async with connect(hint) as client:
        window = Window(pid, client, hint)
        nodes = [client.get_node(ua.NodeId.from_string(n)) for n in node_ids]
        batches = [nodes[i : i + args.batch] for i in range(0, len(nodes), args.batch)]
        loop = asyncio.get_running_loop()
        start = loop.time() + 1.0
        measure_from = start + args.warmup
        until = measure_from + args.seconds
        counted_from = -1
        n = 0
        while (due := start + n * args.interval) < until:
            late = loop.time() - due
            if late > 0:
                overruns += late > args.interval
            else:
                await asyncio.sleep(-late)
            if counted_from < 0 and loop.time() >= measure_from:
                await window.open()
                counted_from = reads
            answers = await asyncio.gather(*(client.read_attributes(b) for b in batches))
            for values in answers:
                reads += len(values)
                bad += sum(not value.StatusCode.is_good() for value in values)
            n += 1
        # The window ends where the next round would start: whole intervals, all read.
        await asyncio.sleep(max(0.0, start + n * args.interval - loop.time()))
        done = await window.close()
    counted = reads - counted_from
    reading = done["cpu"] - us_per_update * 1e-6 * done["writes"]
    return {
        "window_s": round(done["wall"], 2),
        "values_read": counted,
        "values_read_per_s": round(counted / done["wall"], 1),
        "read_requests_of": args.batch,
        "tag_updates": int(done["writes"]),
        "skipped_steps": int(done["skipped_steps"]),
        "server_cpu_share_of_a_core": round(done["cpu"] / done["wall"], 4),
        "server_cpu_us_per_value_read": per(reading, counted),
        "client_cpu_us_per_value_read": per(done["own"], counted),
        "bad_status": bad,
        "overruns": overruns,
    }


class Changes:
    """Counts the data change notifications of a subscription."""

    def __init__(self) -> None:
        self.count = 0

    def datachange_notification(self, node: Any, value: Any, data: Any) -> None:
        self.count += 1


async def subscribed(
    pid: int, hint: dict[str, Any], us_per_update: float, args: argparse.Namespace
) -> dict[str, Any]:
    """Subscribe to every tag; the server's CPU, less its updater's, per value handed to the
    subscription and per notification the client received."""
    opcua = hint["opcua"]
    node_ids = [node for device in opcua["devices"] for node in device["nodes"].values()]
    changes = Changes()
    async with connect(hint) as client:
        window = Window(pid, client, hint)
        nodes = [client.get_node(ua.NodeId.from_string(n)) for n in node_ids]
        subscription = await client.create_subscription(args.interval * 1000, changes)
        for i in range(0, len(nodes), args.batch):
            await subscription.subscribe_data_change(nodes[i : i + args.batch])
        await asyncio.sleep(args.warmup)
        await window.open()
        received = changes.count
        await asyncio.sleep(args.seconds)
        done = await window.close()
        received = changes.count - received
        await subscription.delete()
    serving = done["cpu"] - us_per_update * 1e-6 * done["writes"]
    return {
        "window_s": round(done["wall"], 2),
        "monitored_items": len(nodes),
        "tag_updates": int(done["writes"]),
        "skipped_steps": int(done["skipped_steps"]),
        "values_to_subscription": int(done["notified"]),
        "notifications_received": received,
        "notifications_received_per_s": round(received / done["wall"], 1),
        "server_cpu_share_of_a_core": round(done["cpu"] / done["wall"], 4),
        "server_cpu_us_per_value_to_subscription": per(serving, done["notified"]),
        "server_cpu_us_per_notification_received": per(serving, received),
        "client_cpu_us_per_notification": per(done["own"], received),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--devices", type=int, default=1563)
    parser.add_argument("--update", type=float, default=1.0, help="update_s of every value")
    parser.add_argument("--interval", type=float, default=1.0, help="poll period (s)")
    parser.add_argument("--batch", type=int, default=1000, help="nodes per Read request")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring")
    parser.add_argument("--seconds", type=float, default=20.0, help="each measured window")
    args = parser.parse_args()
    logging.getLogger("asyncua").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as directory:
        scenario = Path(directory) / "southbound-opcua-bench.toml"
        scenario.write_text(SCENARIO.format(devices=args.devices, update=args.update))
        started = time.monotonic()
        with served(scenario, Path(directory) / "hint.json") as server:
            ready_s = time.monotonic() - started
            hint = server.hint
            tags = sum(len(device["nodes"]) for device in hint["opcua"]["devices"])
            idle = asyncio.run(updates_only(server.pid, hint, args))
            rss = rss_bytes(server.pid)
            update_us = idle["server_cpu_us_per_tag_update"] or 0.0
            read = asyncio.run(polled(server.pid, hint, update_us, args))
            watched = asyncio.run(subscribed(server.pid, hint, update_us, args))
    result = {
        "devices": args.devices,
        "tags": tags,
        "update_s": args.update,
        "start_to_listening_s": round(ready_s, 2),
        "server_rss_mib": round(rss / 2**20, 1),
        "updates": idle,
        "polled": read,
        "subscribed": watched,
        "updater": server.last_line,
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
