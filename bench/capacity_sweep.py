"""Does ``factory-sim capacity`` find the knee a manual sweep finds, in at most 8 runs?

First the search runs as ``factory-sim capacity`` does (the offered rate doubled while steps
hold, then bisected). Then a manual sweep runs the same kind of step at every load of a grid
(``--grid`` apart, upwards from a little below the search's answer until two loads in a row
broke), and its knee is the highest grid load below which every load held. Both use the
local pipeline: a Mosquitto from ``broker_config/`` and the ingest worker into SQLite in a
temporary directory, a fresh broker per step. Prints both, every step, and whether the
search's answer is within 10 % of the sweep's knee. Run:

    .venv/bin/python bench/capacity_sweep.py [--devices 2000] [--duration 15] \\
        [--slo 'latency_ms.p99 < 250'] [--grid 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import tomllib
from pathlib import Path

from run import machine

from simulator.capacity import run_capacity, run_locally, try_load
from simulator.report.capacity import CapacityStep
from simulator.report.thresholds import parse_thresholds
from simulator.scenario import Scenario, validate_scenario

SCENARIO = """\
name = "capacity-bench"
duration_s = {duration}
[fleet]
devices = {devices}
publish_interval_s = 1.0
[onboarding]
rate_per_s = 5000.0
[ingest]
sqlite_path = "{sqlite}"
batch_size = 5000
"""


def knee(steps: list[CapacityStep]) -> float | None:
    """The highest load below which every load of the sweep held."""
    found = None
    for step in sorted(steps, key=lambda s: s.load):
        if not step.held:
            break
        found = step.load
    return found


def _broke_twice(steps: list[CapacityStep]) -> bool:
    return len(steps) >= 2 and not steps[-1].held and not steps[-2].held


def row(kind: str, step: CapacityStep) -> str:
    report = step.report
    return (
        f"| {kind} {step.number} | {step.load:,.0f} | "
        f"{report['throughput']['published_per_s'] or 0:,.0f} | "
        f"{report['latency_ms']['p99'] or 0:,.1f} | "
        + ("held" if step.held else "broke: " + "; ".join(step.broken))
        + " |"
    )


async def main(args: argparse.Namespace) -> None:
    slos = parse_thresholds([(expr, "--slo") for expr in args.slo])
    with tempfile.TemporaryDirectory(prefix="bench-capacity-") as scratch:
        text = SCENARIO.format(
            duration=args.duration, devices=args.devices, sqlite=Path(scratch) / "rows.sqlite"
        )
        scenario: Scenario = validate_scenario(tomllib.loads(text), "capacity-bench")
        run_step = run_locally("capacity-bench")
        say = print if args.verbose else (lambda _: None)
        search = await run_capacity(
            scenario, by="rate", slos=slos, run_step=run_step, source="capacity-bench", say=say
        )
        held = [s.load for s in search if s.held]
        broke = [s.load for s in search if not s.held]
        answer = max(held) if held else None
        top = min(broke) if broke else max(held) * 2
        # From a little below the answer upwards, until two loads in a row broke (or well past
        # the lowest load the search saw break): a knee is where loads stop holding.
        load = (answer or top) / (1 + args.grid) ** 3
        sweep: list[CapacityStep] = []
        while load <= top * (1 + args.grid) ** 4 and not _broke_twice(sweep):
            sweep.append(
                await try_load(
                    scenario,
                    "rate",
                    round(load, -1),
                    len(sweep) + 1,
                    slos=slos,
                    run_step=run_step,
                    source="capacity-bench",
                    say=say,
                )
            )
            load *= 1 + args.grid
    found = knee(sweep)
    print(json.dumps(machine(), indent=None))
    print(f"\nSLOs: {', '.join(args.slo)}; {args.devices:,} devices, {args.duration:g} s a step\n")
    print("| run | offered msg/s | published msg/s | p99 ms | verdict |")
    print("|---|--:|--:|--:|---|")
    for step in search:
        print(row("search", step))
    for step in sweep:
        print(row("sweep", step))
    close = answer is not None and found is not None and abs(answer - found) <= 0.10 * found
    print(
        f"\nsearch: highest held {answer} in {len(search)} runs; sweep knee {found} "
        f"({len(sweep)} runs); within 10 %: {close}"
    )


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds each step holds")
    parser.add_argument("--slo", action="append", default=None, metavar="'KEY OP LIMIT'")
    parser.add_argument("--grid", type=float, default=0.05, help="sweep step, as a share")
    parser.add_argument("--verbose", action="store_true", help="say each step as it goes")
    args = parser.parse_args()
    args.slo = args.slo or ["latency_ms.p99 < 250"]
    return args


if __name__ == "__main__":
    asyncio.run(main(parse()))
