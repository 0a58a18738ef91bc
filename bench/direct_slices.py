"""One scenario over local brokers as N slices on this machine, by hand, and what it cost.

Starts the scenario's ``[broker] instances`` Mosquittos once (a pool held by this script), an
ingest-only process (one worker per broker) and, once it listens, N ``--segment I/N
--no-ingest`` slices with one ``--start-at`` barrier; samples the brokers' RSS and the
kernel's slab and TCP sockets every 5 s into ``OUT/samples.jsonl``, and merges the reports
into ``OUT/merged.json``::

    python bench/direct_slices.py scenarios/direct-100k.toml --slices 6 --out runs/d100k

A stand-in for ``factory-sim run --workers N`` with a local broker pool: each slice started
on its own with ``instances`` would start brokers of its own.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from simulator.broker import BrokerPool
from simulator.scenario import load_scenario

SAMPLE_S = 5.0
BARRIER_S = 10
"""Seconds from starting the slices to their start: enough for each to load and build."""

INGEST_READY_S = 120.0
"""How long the ingest run may take to have every worker subscribed."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", type=Path)
    parser.add_argument("--slices", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--run-id", default="slices")
    args = parser.parse_args()
    scenario = load_scenario(args.scenario)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    with BrokerPool(scenario.broker.instances) as pool:
        urls = ", ".join(f'"mqtt://{host}:{port}"' for host, port in pool.addresses)
        text = args.scenario.read_text(encoding="utf-8")
        text, found = re.subn(r"(?m)^instances = \d+$", f"urls = [{urls}]", text)
        if found != 1:
            sys.exit(f"{args.scenario}: expected one 'instances = K' line in [broker]")
        pooled = out / args.scenario.name
        pooled.write_text(text, encoding="utf-8")
        sink = f"sqlite:///{(out / 'rows.sqlite').absolute()}"
        run = [sys.executable, "-m", "simulator", "run", str(pooled), "--run-id", args.run_id]
        run += ["--sink", sink]
        logs: list[IO[str]] = []
        processes = []

        def start(name: str, command: list[str]) -> None:
            command = [*command, "--report", str(out / f"{name}.json")]
            print(" ".join(command))
            logs.append((out / f"{name}.log").open("w", encoding="utf-8"))
            processes.append(subprocess.Popen(command, stdout=logs[-1], stderr=subprocess.STDOUT))

        # Ingest first, and the slices only once it listens on every broker: a message
        # published before would be counted lost.
        start("ingest", [*run, "--ingest-only", "--idle-stop", "15"])
        _wait_listening(out / "ingest.log", processes[0])
        start_at = int(time.time()) + BARRIER_S
        for index in range(args.slices):
            segment = ["--segment", f"{index}/{args.slices}", "--no-ingest"]
            start(f"slice-{index}", [*run, "--quiet", "--start-at", str(start_at), *segment])
        names = ["ingest", *(f"slice-{index}" for index in range(args.slices))]
        with (out / "samples.jsonl").open("w", encoding="utf-8") as samples:
            while any(process.poll() is None for process in processes):
                sample = {"t": round(time.time() - start_at, 1), **_machine(pool.pids)}
                samples.write(json.dumps(sample) + "\n")
                samples.flush()
                time.sleep(SAMPLE_S)
        for opened in logs:
            opened.close()
        codes = [process.returncode for process in processes]
        print("exit codes", codes)
    reports = [str(out / f"{name}.json") for name in names]
    merged = [sys.executable, "-m", "simulator", "merge", *reports]
    merged += ["--report", str(out / "merged.json")]
    print(" ".join(merged))
    return max([*codes, subprocess.run(merged, check=False).returncode])


def _wait_listening(log: Path, process: subprocess.Popen[bytes]) -> None:
    """Until the ingest run says it runs (every worker subscribed), or fail."""
    deadline = time.monotonic() + INGEST_READY_S
    while "ingest only" not in log.read_text(encoding="utf-8"):
        if process.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"the ingest run did not start listening; see {log}")
        time.sleep(0.2)


def _machine(pids: tuple[int, ...]) -> dict[str, object]:
    """The brokers' RSS (KiB), the kernel's slab and free memory (KiB), TCP sockets in use."""
    rss = []
    for pid in pids:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
        rss.append(int(status.split("VmRSS:")[1].split()[0]))
    meminfo = {
        line.split(":")[0]: int(line.split()[1])
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines()
    }
    tcp = Path("/proc/net/sockstat").read_text(encoding="utf-8").splitlines()[1].split()
    return {
        "broker_rss_kib": rss,
        "slab_kib": meminfo["Slab"],
        "mem_available_kib": meminfo["MemAvailable"],
        "tcp_inuse": int(tcp[tcp.index("inuse") + 1]),
    }


if __name__ == "__main__":
    sys.exit(main())
