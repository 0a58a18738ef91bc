"""Serve the south, check the north, one report: ``factory-sim southbound SCENARIO --broker URL``.

One process, one loop, one clock: the Modbus TCP server and the OPC UA servers show the
fleet's models to the gateway (:mod:`simulator.southbound`), the check subscribes to the
gateway's output on the broker (its own MQTT session, reconnecting like the ingest worker's)
and compares each value with the ground truth at its arrival (:mod:`.check`), south-side
faults happen on the plan's schedule, and at the end (``duration_s``, SIGTERM or SIGINT) the
report is written: ``scenario``, ``epoch_unix_s`` and ``settings`` (the tables the check ran
with), ``gateway`` (what the check found), ``southbound`` (what the servers did) and
``thresholds``. Both sides
read the same clock, so "how late" and "how stale" need no synchronised clocks between
machines.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from simulator.errors import ScenarioError, ScenarioProblem
from simulator.northbound.check import GatewayCheck
from simulator.northbound.listener import NorthboundListener
from simulator.northbound.truth import GroundTruth, RegisterValues, ShownValues
from simulator.report.thresholds import Threshold, evaluate, results_as_json
from simulator.scenario.schema import Scenario
from simulator.southbound.node_values import NodeValues
from simulator.southbound.samples import model_blocks
from simulator.southbound.service import Southbound, served_fleet, write_hint

LOOKBACK_STALENESS = 10
"""A value matching older truth than this many times the allowed staleness counts as wrong."""

MIN_LOOKBACK_S = 30.0


def check_problems(scenario: Scenario) -> list[ScenarioProblem]:
    """What a scenario lacks for the gateway check (valid scenarios may lack it: the table is
    needed only when checking)."""
    problems = []
    if not scenario.gateway.topic and scenario.gateway.format == "json":
        problems.append(
            ScenarioProblem(
                scenario.name,
                "gateway.topic",
                "required to check a gateway's JSON output: where it publishes, with a "
                '{device} level, e.g. "plant/{device}/data"',
            )
        )
    return problems


def shown_values(scenario: Scenario) -> list[ShownValues]:
    """What the scenario's servers show, as the check's ground truth: the devices served over
    Modbus TCP by their registers (also when OPC UA shows them too: every node value names
    its register's number), the others by their OPC UA nodes."""
    devices = scenario.fleet.devices
    modbus = scenario.southbound.modbus_range(devices)
    shown: list[ShownValues] = []
    if modbus:
        shown.append(RegisterValues(served_fleet(scenario)))
    if modbus.stop < devices:
        blocks = model_blocks(
            scenario.fleet.groups, scenario.fleet.plant, scenario.southbound.update_s
        )
        shown.append(NodeValues(blocks, scenario.seed, range(modbus.stop, devices)))
    return shown


async def serve_and_check(
    scenario: Scenario,
    *,
    broker_url: str,
    hint_path: Path,
    duration_s: float | None = None,
    thresholds: Sequence[Threshold] = (),
    announce: Callable[[str], None] = print,
    clock: Callable[[], float] = time.time,
    ready: Callable[[GatewayCheck], None] | None = None,
    stop: asyncio.Event | None = None,
) -> dict[str, Any]:
    """Serve the fleet and check the gateway's output until ``stop``, a signal or
    ``duration_s``; return the report. ``ready`` is given the check once both sides are up
    (read its counts from another thread, never call it)."""
    problems = check_problems(scenario)
    if problems:
        raise ScenarioError(problems)
    south = Southbound(scenario, clock=clock)
    staleness_s = scenario.gateway.max_staleness_ms / 1000
    truth = GroundTruth(
        shown_values(scenario),
        max_staleness_s=staleness_s,
        lookback_s=max(MIN_LOOKBACK_S, LOOKBACK_STALENESS * staleness_s),
    )
    check = GatewayCheck(truth, scenario.gateway, south.faults, started_s=0.0)
    loop = asyncio.get_running_loop()
    stop = stop if stop is not None else asyncio.Event()
    listener = NorthboundListener(
        check,
        broker_url=broker_url,
        client_id=f"factory-sim-check-{scenario.name}"[:64],
        loop=loop,
        now_s=lambda: clock() - south.epoch,
    )
    await listener.start()
    handlers = False
    try:
        await south.start()
        with contextlib.suppress(RuntimeError):  # not the main thread: no signal handlers
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop.set)
            handlers = True
        write_hint(south.hint(), hint_path)
        for line in south.announcements():
            announce(line)
        announce(f"gateway hint written to {hint_path}")
        announce(f"checking {check.mapping.filter!r} on {broker_url}")
        if ready is not None:
            ready(check)
        await south.serving(stop, duration_s)
        if south.died is not None:
            announce(f"{south.died}; stopping")
    finally:
        if handlers:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
        await listener.stop()
        await south.close()
    report: dict[str, Any] = {
        "scenario": scenario.name,
        "epoch_unix_s": south.epoch,
        "settings": {
            "gateway": scenario.gateway.model_dump(mode="json"),
            "southbound": scenario.southbound.model_dump(mode="json"),
            "seed": scenario.seed,
        },
        "gateway": check.section(clock() - south.epoch),
        "southbound": south.report() | {"check_reconnects": listener.reconnects},
    }
    report["thresholds"] = results_as_json(evaluate([*scenario.thresholds, *thresholds], report))
    return report


def summary_lines(report: dict[str, Any]) -> list[str]:
    """What the command prints at the end: the check's figures, each fault, each threshold."""
    gateway = report["gateway"]
    devices, values, latency = gateway["devices"], gateway["values"], gateway["latency_ms"]
    lines = [
        f"gateway: {devices['seen']:,}/{devices['expected']:,} devices seen, "
        f"{values['correct']:,} values correct, {values['wrong']:,} wrong, "
        f"{values['stale']:,} stale, {values['flagged']:,} flagged; "
        f"change to arrival p50 {latency['p50']} ms, p99 {latency['p99']} ms"
    ]
    for tag, count in list(values["wrong_tags"].items())[:5]:
        lines.append(f"  wrong: {tag} ({count:,} values)")
    for fault in gateway["faults"]:
        how = ", ".join(f"{name} {count:,}" for name, count in fault["reactions"].items())
        lines.append(
            f"fault {fault['number']} {fault['kind']} at {fault['start_s']:g} s: "
            f"{fault['detected']:,}/{fault['devices']:,} devices showed it"
            + (f" ({how}), at most {fault['detected_after_s']['max']} s after" if how else "")
        )
    for result in report["thresholds"]:
        verdict = "passed" if result["passed"] else "FAILED"
        lines.append(f"threshold {result['expr']}: {verdict} (got {result['value']})")
    died = report.get("southbound", {}).get("opcua", {}).get("died")
    if died:
        lines.append(f"FAILED: {died}; the OPC UA devices were not served to the end")
    return lines


def write_report(report: dict[str, Any], path: Path) -> None:
    """Write the report as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1, default=str) + "\n", encoding="utf-8")
