"""CPU of the Modbus TCP server per read it serves: N devices polled once a second by pymodbus.

Starts ``factory-sim southbound`` as a child process (uvloop, as users run it) on a scenario of
``--devices`` machines, then polls every device once per ``--interval`` from this process with
pymodbus's async client, one connection per endpoint as a gateway polls its devices, each
device's whole register map per read. Polls are due at ``start + n * interval`` (drift-free);
a round that starts late is counted as an overrun, never skipped. After ``--warmup`` seconds,
the child's CPU (user + system, from /proc) over ``--seconds`` is divided by the reads that
window answered. Run:

    .venv/bin/python bench/southbound_modbus.py [--devices 1000] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymodbus.client import AsyncModbusTcpClient

from simulator.fleet import get_model
from simulator.southbound.register_map import register_map

ROOT = Path(__file__).resolve().parent.parent

PLANT = """\
duration_s = 60
[fleet]
devices = {devices}
publish_interval_s = 1.0
[[fleet.mix]]
model = "cnc-machine"
share = 0.4
[[fleet.mix]]
model = "power-meter"
share = 0.3
[[fleet.mix]]
model = "robot"
share = 0.3
"""
"""The fleet every southbound benchmark serves: 40 % CNC machines, 30 % power meters, 30 %
robots, ``{devices}`` of them; a benchmark adds its name and its own tables."""

SCENARIO = 'name = "southbound-bench"\n' + PLANT + "[southbound]\nport = 0\nupdate_s = 1.0\n"


@dataclass
class Served:
    """A ``factory-sim southbound`` child serving a scenario."""

    pid: int
    hint: dict[str, Any]
    """The gateway hint it wrote."""
    last_line: str = ""
    """The last line it printed, once it has stopped."""


@contextlib.contextmanager
def served(scenario: Path, hint_path: Path) -> Iterator[Served]:
    """Serve ``scenario`` in a child until the block ends (SIGTERM, then its last words)."""
    server = subprocess.Popen(
        [sys.executable, "-m", "simulator", "southbound", str(scenario), "--hint", str(hint_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        for line in server.stdout:
            if line.startswith("gateway hint written"):
                break
        child = Served(server.pid, json.loads(hint_path.read_text()))
        yield child
    finally:
        server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=60)
    lines = out.strip().splitlines()
    child.last_line = lines[-1] if lines else ""


def cpu_seconds(pid: int) -> float:
    """User plus system CPU of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def serving_processes(pid: int) -> list[int]:
    """``pid`` and its children (the OPC UA process, when it has one of its own)."""
    found = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:  # ended meanwhile
                continue
            if parent == pid:
                found.append(int(entry.name))
    return found


class Poller:
    """Polls every device of one endpoint, once per interval, on one connection."""

    def __init__(self, host: str, port: int, devices: list[dict[str, Any]]) -> None:
        self.client = AsyncModbusTcpClient(host, port=port, retries=0, timeout=10)
        self.devices = [(d["unit_id"], register_map(get_model(d["model"])).size) for d in devices]
        self.reads = 0
        self.errors = 0
        self.overruns = 0

    async def run(self, start: float, interval: float, until: float) -> None:
        loop = asyncio.get_running_loop()
        assert await self.client.connect()
        n = 0
        while (due := start + n * interval) < until:
            late = loop.time() - due
            if late > 0:
                self.overruns += late > interval
            else:
                await asyncio.sleep(-late)
            for unit_id, size in self.devices:
                response = await self.client.read_holding_registers(
                    0, count=size, device_id=unit_id
                )
                if response.isError():
                    self.errors += 1
                else:
                    self.reads += 1
            n += 1
        self.client.close()


async def poll(hint: dict[str, Any], args: argparse.Namespace, pid: int) -> dict[str, Any]:
    by_endpoint: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for device in hint["devices"]:
        by_endpoint.setdefault((device["host"], device["port"]), []).append(device)
    pollers = [Poller(host, port, devices) for (host, port), devices in by_endpoint.items()]
    loop = asyncio.get_running_loop()
    start = loop.time() + 1.0
    until = start + args.warmup + args.seconds
    tasks = [asyncio.create_task(p.run(start, args.interval, until)) for p in pollers]
    await asyncio.sleep(start + args.warmup - loop.time())
    reads_before = sum(p.reads for p in pollers)
    cpu_before = cpu_seconds(pid)
    wall_before = time.monotonic()
    own_before = time.process_time()
    await asyncio.sleep(args.seconds)
    reads = sum(p.reads for p in pollers) - reads_before
    cpu = cpu_seconds(pid) - cpu_before
    wall = time.monotonic() - wall_before
    own = time.process_time() - own_before
    await asyncio.gather(*tasks)
    return {
        "devices": len(hint["devices"]),
        "endpoints": len(pollers),
        "interval_s": args.interval,
        "window_s": round(wall, 2),
        "reads": reads,
        "reads_per_s": round(reads / wall, 1),
        "server_cpu_s": round(cpu, 3),
        "server_cpu_us_per_read": round(1e6 * cpu / reads, 1) if reads else None,
        "server_cpu_share_of_a_core": round(cpu / wall, 4),
        "clients_cpu_us_per_read": round(1e6 * own / reads, 1) if reads else None,
        "errors": sum(p.errors for p in pollers),
        "overruns": sum(p.overruns for p in pollers),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=1.0, help="poll period (s)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured window")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        scenario = Path(directory) / "southbound-bench.toml"
        scenario.write_text(SCENARIO.format(devices=args.devices))
        with served(scenario, Path(directory) / "hint.json") as server:
            result = asyncio.run(poll(server.hint, args, server.pid))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
