"""The whole gateway test at scale: Modbus TCP devices and an OPC UA server served and
checked, the example gateway polling them once a second and publishing JSON to a local
Mosquitto.

Starts Mosquitto (``broker_config/``), then ``factory-sim southbound SCENARIO --broker URL`` as
a child process (uvloop, as users run it: the Modbus servers and the northbound check in one
process, the OPC UA server in a process of its own, ``[southbound.opcua] process = "own"``,
unless ``--opcua-process shared``), then the example gateway
(``examples/polling_gateway/poller.py``: pymodbus, one connection per Modbus device; asyncua,
one session per OPC UA server, Read calls of 1,000 nodes; paho-mqtt) in this process. The
fleet is ``--devices`` Modbus devices and, with ``--opcua-devices``, as many more on one OPC
UA server (``protocol = "modbus+opcua"``, ``modbus_devices``), each part 40 % CNC machines,
30 % power meters, 30 % robots (1,563 OPC UA devices: 20,007 tags); every value changes each
second.

Measured windows of ``--seconds``, each after ``--warmup`` seconds, on the CPU (user + system,
from /proc) of every serving process: the command's and its OPC UA process's, added up and
each apart:

1. with OPC UA, ``idle``: nobody polls; the OPC UA updater alone (CPU per tag update);
2. ``modbus``: the gateway polls the Modbus devices (CPU per Modbus read: the read served
   and its published values checked, the idle rate taken off);
3. with OPC UA, ``both``: the gateway polls the OPC UA server too (CPU per OPC UA value read
   and checked, the Modbus window's rate taken off): the issue's target.

With ``--gateway-processes 2`` the gateway's OPC UA polling runs in a process of its own (its
CPU counted as the gateway's), so the Modbus and OPC UA pollers do not share one interpreter
lock.

Then SIGTERM ends the child, whose report says what the check found over the whole run. Run:

    .venv/bin/python bench/gateway_check.py [--devices 1000] [--opcua-devices 1563]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from southbound_modbus import ROOT, cpu_seconds, serving_processes

from simulator.broker import LocalBroker

sys.path.insert(0, str(ROOT / "examples" / "polling_gateway"))
from poller import Poller  # an example, not a package: imported from its directory

SHARES = (("cnc-machine", 0.4), ("power-meter", 0.3), ("robot", 0.3))
TAGS = {"cnc-machine": 11, "power-meter": 12, "robot": 16}
"""Signals per model (the node maps' and register maps' fields)."""


def mix(devices: int) -> list[tuple[str, int]]:
    """``devices`` split 40/30/30 by model, the rounding left to the last."""
    counts = [(model, round(devices * share)) for model, share in SHARES[:-1]]
    return [*counts, (SHARES[-1][0], devices - sum(count for _, count in counts))]


def scenario_text(args: argparse.Namespace) -> str:
    parts = mix(args.devices) + (mix(args.opcua_devices) if args.opcua_devices else [])
    lines = [
        'name = "gateway-bench"',
        "duration_s = 60",
        "[fleet]",
        f"devices = {args.devices + args.opcua_devices}",
        "publish_interval_s = 1.0",
    ]
    for model, count in parts:
        lines += ["[[fleet.mix]]", f'model = "{model}"', f"count = {count}"]
    lines += ["[southbound]", "port = 0", "update_s = 1.0"]
    if args.opcua_devices:
        lines += ['protocol = "modbus+opcua"', f"modbus_devices = {args.devices}"]
        lines += ["[southbound.opcua]", "port = 0", f'process = "{args.opcua_process}"']
    lines += [
        "[gateway]",
        'topic = "plant/{device}/data"',
        'quality = "quality"',
        f"max_staleness_ms = {int(args.staleness * 1000)}",
    ]
    return "\n".join(lines) + "\n"


class PollerProcess:
    """A :class:`Poller` in a process of its own (``--gateway-processes 2``: the OPC UA
    polling apart from the Modbus polling, each with its own interpreter lock); its counts
    read over a pipe, its CPU from /proc."""

    def __init__(self, hint_path: Path, broker_url: str, poll_s: float, protocol: str) -> None:
        context = multiprocessing.get_context("spawn")  # this process has threads running
        self._conn, theirs = context.Pipe()
        self._process = context.Process(
            target=_poll_in_a_process,
            args=(theirs, str(hint_path), broker_url, poll_s, protocol),
            name=f"gateway-{protocol}",
        )
        self._process.start()
        assert self._conn.recv() == "polling"
        self.servers = protocol == "opcua"
        self.final: dict[str, int] | None = None

    @property
    def pid(self) -> int:
        assert self._process.pid is not None
        return self._process.pid

    def counts(self) -> dict[str, int]:
        if self.final is not None:
            return self.final
        self._conn.send("counts")
        counts: dict[str, int] = self._conn.recv()
        return counts

    def stop(self) -> None:
        self._conn.send("stop")
        self.final = self._conn.recv()
        self._process.join(timeout=60)


def _poll_in_a_process(
    conn: Connection, hint_path: str, broker_url: str, poll_s: float, protocol: str
) -> None:
    poller = Poller(
        Path(hint_path),
        broker_url,
        poll_s=poll_s,
        protocols=(protocol,),
        client_id=f"bench-gateway-{protocol}",
    )
    with poller:
        conn.send("polling")
        while conn.recv() == "counts":
            conn.send(poller_counts(poller))
    conn.send(poller_counts(poller))


class Window:
    """One measured window: the serving processes' CPU, this process's and the gateway's
    counts."""

    def __init__(self, pids: list[int], pollers: list[Poller | PollerProcess]) -> None:
        self.pids = pids
        self.pollers = pollers

    def counts(self) -> tuple[float, ...]:
        polled = [(bool(p.servers), poller_counts(p)) for p in self.pollers]
        return (
            time.monotonic(),
            *(cpu_seconds(pid) for pid in self.pids),
            time.process_time()
            + sum(cpu_seconds(p.pid) for p in self.pollers if isinstance(p, PollerProcess)),
            sum(c["reads"] for _, c in polled),
            sum(c["values_read"] for _, c in polled),
            sum(c["published"] for _, c in polled),
            sum(c["failed_reads"] for _, c in polled),
            sum(c["overruns"] for _, c in polled),
            sum(c["failed_reads"] for opcua, c in polled if opcua),
            sum(c["overruns"] for opcua, c in polled if opcua),
        )

    def measure(self, seconds: float) -> dict[str, Any]:
        load_before = os.getloadavg()[0]
        before = self.counts()
        time.sleep(seconds)
        after = self.counts()
        wall, *cpus, own, reads, values, published, failed, overruns, opcua_failed, late = (
            a - b for a, b in zip(after, before, strict=True)
        )
        cpu = sum(cpus)
        return {
            "wall_s": round(wall, 2),
            "load_1m_before_after": [load_before, os.getloadavg()[0]],
            "server_cpu_s": round(cpu, 3),
            "server_share_of_a_core": round(cpu / wall, 4),
            "share_of_a_core_per_process": [round(c / wall, 4) for c in cpus],
            "gateway_share_of_a_core": round(own / wall, 4),
            "reads": reads,
            "values_read": values,
            "published": published,
            "failed_reads": failed,
            "overruns": overruns,
            # A whole-server read that fails (timed out) fails every device of the server.
            "opcua_failed_reads": opcua_failed,
            "opcua_overruns": late,
        }


def poller_counts(poller: Poller | PollerProcess) -> dict[str, int]:
    """What a poller has done so far, wherever it runs."""
    if isinstance(poller, PollerProcess):
        return poller.counts()
    return {
        "reads": poller.reads.total(),
        "values_read": poller.values_read,
        "published": poller.published,
        "failed_reads": poller.failed_reads,
        "overruns": poller.overruns,
    }


def per(cpu_s: float, count: float) -> float | None:
    return round(1e6 * cpu_s / count, 1) if count else None


def measure(args: argparse.Namespace, directory: Path, broker: LocalBroker) -> dict[str, Any]:
    scenario = directory / "gateway-bench.toml"
    scenario.write_text(scenario_text(args))
    hint_path = directory / "hint.json"
    report_path = directory / "report.json"
    started = time.monotonic()
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulator",
            "southbound",
            str(scenario),
            "--broker",
            broker.url,
            "--hint",
            str(hint_path),
            "--report",
            str(report_path),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    windows: dict[str, dict[str, Any]] = {}
    pollers: list[Poller | PollerProcess] = []
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith("checking "):
                break
        serving_after_s = time.monotonic() - started
        pids = serving_processes(child.pid)
        expected = 2 if args.opcua_devices and args.opcua_process == "own" else 1
        assert len(pids) == expected, f"serving processes {pids}, expected {expected}"
        window = Window(pids, pollers)
        if args.opcua_devices:
            time.sleep(args.warmup)
            windows["idle"] = window.measure(args.seconds)
        with ExitStack() as running:
            for protocol in ("modbus", "opcua") if args.opcua_devices else ("modbus",):
                if protocol == "opcua" and args.gateway_processes == 2:
                    apart = PollerProcess(hint_path, broker.url, args.interval, protocol)
                    running.callback(apart.stop)
                    pollers.append(apart)
                else:
                    pollers.append(
                        running.enter_context(
                            Poller(
                                hint_path,
                                broker.url,
                                poll_s=args.interval,
                                protocols=(protocol,),
                                client_id=f"bench-gateway-{protocol}",
                            )
                        )
                    )
                time.sleep(args.warmup)
                windows["both" if protocol == "opcua" else "modbus"] = window.measure(args.seconds)
        totals = [poller_counts(p) for p in pollers]
        failed = sum(c["failed_reads"] for c in totals)
        overruns = sum(c["overruns"] for c in totals)
        published = sum(c["published"] for c in totals)
        # Every poller stopped: let the check hear the last messages, then end the run.
        time.sleep(args.tail)
        child.send_signal(signal.SIGTERM)
        child.stdout.read()
        child.wait(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    report = json.loads(report_path.read_text())
    gateway = {"failed_reads": failed, "overruns": overruns, "published": published}
    return summary(args, windows, report, serving_after_s, gateway)


def summary(
    args: argparse.Namespace,
    windows: dict[str, dict[str, Any]],
    report: dict[str, Any],
    serving_after_s: float,
    polled: dict[str, int],
) -> dict[str, Any]:
    tags = sum(TAGS[model] * count for model, count in mix(args.opcua_devices))
    result: dict[str, Any] = {
        "modbus_devices": args.devices,
        "opcua_devices": args.opcua_devices,
        "opcua_tags": tags,
        "interval_s": args.interval,
        "serving_after_s": round(serving_after_s, 1),
        "windows": windows,
    }
    idle_rate = windows["idle"]["server_share_of_a_core"] if "idle" in windows else 0.0
    modbus = windows["modbus"]
    modbus_cpu = modbus["server_cpu_s"] - idle_rate * modbus["wall_s"]
    result["server_cpu_us_per_modbus_read"] = per(modbus_cpu, modbus["reads"])
    result["gateway_cpu_us_per_modbus_read"] = per(
        modbus["gateway_share_of_a_core"] * modbus["wall_s"], modbus["reads"]
    )
    if "idle" in windows:
        idle = windows["idle"]
        result["server_cpu_us_per_tag_update"] = per(idle["server_cpu_s"], tags * idle["wall_s"])
        both = windows["both"]
        rate = modbus["server_share_of_a_core"]
        opcua_values = (
            both["values_read"] - modbus["values_read"] * both["wall_s"] / modbus["wall_s"]
        )
        result["server_cpu_us_per_opcua_value_read"] = per(
            both["server_cpu_s"] - rate * both["wall_s"], opcua_values
        )
        if len(both["share_of_a_core_per_process"]) == 2:
            # The OPC UA process alone: its updater's share (the Modbus window) taken off.
            updater = modbus["share_of_a_core_per_process"][1]
            result["opcua_process_cpu_us_per_value_read"] = per(
                (both["share_of_a_core_per_process"][1] - updater) * both["wall_s"],
                opcua_values,
            )
        result["opcua_values_read_per_s"] = round(opcua_values / both["wall_s"])
    gateway = report["gateway"]
    result["gateway"] = polled
    result["check"] = {
        "devices": {k: gateway["devices"][k] for k in ("expected", "seen", "missing", "unknown")},
        "tags": {k: gateway["tags"][k] for k in ("expected", "seen", "missing")},
        "values": {
            k: gateway["values"][k] for k in ("checked", "correct", "stale", "wrong", "flagged")
        },
        "wrong_tags": list(gateway["values"]["wrong_tags"])[:5],
        "latency_ms": gateway["latency_ms"],
        "gaps_max_ms": gateway["gaps"]["max_ms"],
        "messages": gateway["messages"],
    }
    result["southbound"] = report["southbound"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--devices", type=int, default=1000, help="Modbus TCP devices")
    parser.add_argument(
        "--opcua-devices",
        type=int,
        default=0,
        help="devices on one OPC UA server (1563: 20,007 tags)",
    )
    parser.add_argument(
        "--opcua-process",
        choices=("own", "shared"),
        default="own",
        help="[southbound.opcua] process: the OPC UA server in a process of its own or not",
    )
    parser.add_argument(
        "--gateway-processes",
        type=int,
        choices=(1, 2),
        default=1,
        help="2: the example gateway's OPC UA polling in a process of its own",
    )
    parser.add_argument("--interval", type=float, default=1.0, help="the gateway's poll (s)")
    parser.add_argument("--staleness", type=float, default=2.0, help="max_staleness (s)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before each window")
    parser.add_argument("--seconds", type=float, default=30.0, help="each measured window")
    parser.add_argument("--tail", type=float, default=3.0, help="seconds served after polling")
    args = parser.parse_args()
    broker = LocalBroker()
    broker.start()
    try:
        with tempfile.TemporaryDirectory() as directory:
            result = measure(args, Path(directory), broker)
    finally:
        broker.stop()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
