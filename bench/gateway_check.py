"""The whole gateway test at scale: N Modbus TCP devices served and checked, the example
gateway polling each once a second and publishing JSON to a local Mosquitto.

Starts Mosquitto (``broker_config/``), then ``factory-sim southbound SCENARIO --broker URL``
as a child process (uvloop, as users run it: the server and the northbound check in one
process), then the example gateway (``examples/polling_gateway/poller.py``: pymodbus, one
connection per device; paho-mqtt) in this process. After ``--warmup`` seconds the child's CPU
(user + system, from /proc) over ``--seconds`` is divided by the reads the gateway made in
that window (each read is one device's whole register map, answered by the server and its
published values checked); at the end the child's report says what the check found. Run:

    .venv/bin/python bench/gateway_check.py [--devices 1000] [--seconds 30]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from southbound_modbus import PLANT, ROOT, cpu_seconds

from simulator.broker import LocalBroker

sys.path.insert(0, str(ROOT / "examples" / "polling_gateway"))
from poller import Poller  # an example, not a package: imported from its directory

SCENARIO = (
    'name = "gateway-bench"\n'
    + PLANT
    + """[southbound]
port = 0
update_s = 1.0
[gateway]
topic = "plant/{{device}}/data"
quality = "quality"
max_staleness_ms = {staleness_ms}
"""
)


def measure(args: argparse.Namespace, directory: Path, broker: LocalBroker) -> dict[str, Any]:
    scenario = directory / "gateway-bench.toml"
    scenario.write_text(
        SCENARIO.format(devices=args.devices, staleness_ms=int(args.staleness * 1000))
    )
    hint_path = directory / "hint.json"
    report_path = directory / "report.json"
    total_s = args.warmup + args.seconds + args.tail
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulator",
            "southbound",
            str(scenario),
            "--broker",
            broker.url,
            "--duration",
            str(total_s),
            "--hint",
            str(hint_path),
            "--report",
            str(report_path),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith("checking "):
                break
        started = time.monotonic()
        with Poller(hint_path, broker.url, poll_s=args.interval) as gateway:
            time.sleep(args.warmup)
            reads_before = gateway.reads.total()
            cpu_before = cpu_seconds(child.pid)
            own_before = time.process_time()
            wall_before = time.monotonic()
            time.sleep(args.seconds)
            reads = gateway.reads.total() - reads_before
            cpu = cpu_seconds(child.pid) - cpu_before
            own = time.process_time() - own_before
            wall = time.monotonic() - wall_before
            failed, overruns = gateway.failed_reads, gateway.overruns
            # Stop polling before the command ends, so its last seconds have no reads in
            # flight that it cannot check any more.
            time.sleep(max(0.0, started + total_s - 2.0 - time.monotonic()))
        child.stdout.read()
        child.wait(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    report = json.loads(report_path.read_text())
    gateway_section = report["gateway"]
    return {
        "devices": args.devices,
        "interval_s": args.interval,
        "window_s": round(wall, 2),
        "reads": reads,
        "reads_per_s": round(reads / wall, 1),
        "serve_and_check_cpu_us_per_read": round(1e6 * cpu / reads, 1) if reads else None,
        "serve_and_check_share_of_a_core": round(cpu / wall, 4),
        "gateway_cpu_us_per_read": round(1e6 * own / reads, 1) if reads else None,
        "gateway_failed_reads": failed,
        "gateway_overruns": overruns,
        "check": {
            "devices": gateway_section["devices"],
            "tags": {k: gateway_section["tags"][k] for k in ("expected", "seen", "missing")},
            "values": {
                k: gateway_section["values"][k]
                for k in ("checked", "correct", "stale", "wrong", "flagged")
            },
            "latency_ms": gateway_section["latency_ms"],
            "gaps_max_ms": gateway_section["gaps"]["max_ms"],
        },
        "southbound": report["southbound"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=1.0, help="the gateway's poll (s)")
    parser.add_argument("--staleness", type=float, default=2.0, help="max_staleness (s)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured window")
    parser.add_argument("--tail", type=float, default=5.0, help="seconds served after it")
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
