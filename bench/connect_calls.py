"""Python function calls per device in the engine's connect path: a cost measure that a busy
machine cannot blur.

Timing a connect on a shared two-core machine varies by a third from round to round, so
comparing two trees' connect rates needs many rounds. The number of Python calls a device
costs does not vary with load. This runs the engine bench's own workload
(``clients.workload.bench_scenario`` through ``clients.engine_driver.run_engine``: connect,
one message, disconnect) against a fresh Mosquitto from ``broker_config/``, under
``cProfile``, and prints the calls per device and the functions that took the most time.
``--save`` keeps the profile for ``pstats``, so two trees can be compared function by function.

Usage (from the repository root; for an older tree, copy this file into that checkout's
``bench/`` and run it there: the tree it stands in is the one measured)::

    .venv/bin/python bench/connect_calls.py --devices 3000
    .venv/bin/python <checkout>/bench/connect_calls.py --devices 3000 --save old.prof
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
# Run as a script, this directory (holding ``clients``) is on the path but the repository root
# (holding ``simulator``) is not.
sys.path.insert(1, str(BENCH.parent))

from clients.common import StackArgs  # noqa: E402
from clients.engine_driver import run_engine  # noqa: E402
from clients.workload import bench_scenario  # noqa: E402

from simulator.broker import LocalBroker  # noqa: E402


def main() -> None:
    """Profile one run of the workload and print calls per device."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--devices", type=int, default=3000)
    parser.add_argument("--top", type=int, default=20, help="functions to list, by own time")
    parser.add_argument("--save", type=Path, help="write the profile here (pstats format)")
    ns = parser.parse_args()
    profile = cProfile.Profile()
    with LocalBroker() as broker:
        args = StackArgs("127.0.0.1", broker.port, ns.devices, 1, 100, 10.0, 120.0)
        scenario = bench_scenario(args.host, args.port, args.devices, args.concurrency)
        profile.enable()
        figures = asyncio.run(run_engine("engine", args, scenario))
        profile.disable()
    if figures.connected != ns.devices:
        raise SystemExit(f"only {figures.connected:,} of {ns.devices:,} devices connected")
    if ns.save is not None:
        profile.dump_stats(ns.save)
    stats = pstats.Stats(profile, stream=sys.stdout)
    print(f"{ns.devices:,} devices: {stats.total_calls / ns.devices:,.1f} calls per device")  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(ns.top)


if __name__ == "__main__":
    main()
