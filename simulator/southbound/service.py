"""``factory-sim southbound``: serve a scenario's fleet as Modbus TCP and/or OPC UA devices.

Builds the :class:`~simulator.southbound.fleet_values.ServedFleet` from the scenario, listens
at its endpoints, writes the gateway configuration hint (JSON: every device's endpoint, unit id,
id and model, each model's register map, the epoch), then serves until SIGTERM or SIGINT (or
``duration_s``). With ``protocol = "opcua"`` (or ``"modbus+opcua"``) the fleet is also, or only,
a set of OPC UA servers (:mod:`~simulator.southbound.opcua_fleet`), listed under the hint's
``opcua`` key; asyncua, which they need, is imported only then. The clock is the wall clock,
so the hint's ``epoch_unix_s`` lets whoever checks a gateway's published values find the step
each was read at.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simulator.errors import ScenarioError, ScenarioProblem
from simulator.scenario.schema import Scenario
from simulator.southbound.faults import FaultPlan
from simulator.southbound.fleet_values import ServedFleet
from simulator.southbound.server import ServerCounters, SouthboundServer

if TYPE_CHECKING:
    from simulator.southbound.opcua_fleet import OpcuaFleet

HINT_FORMAT = 1
"""Version of the hint file's layout."""


def served_fleet(scenario: Scenario) -> ServedFleet:
    """The scenario's fleet as Modbus devices, as its ``[southbound]`` table places them."""
    settings = scenario.southbound
    return ServedFleet(
        scenario.fleet.groups,
        scenario.fleet.plant,
        seed=scenario.seed,
        devices_per_endpoint=settings.devices_per_port,
        update_s=settings.update_s,
        word_order=settings.word_order,
    )


def gateway_hint(scenario: Scenario, server: SouthboundServer) -> dict[str, Any]:
    """What a gateway needs to poll every device, and what checking it later needs."""
    fleet = server.fleet
    maps: dict[str, Any] = {}
    devices: list[dict[str, Any]] = []
    for device in fleet:
        if device.model not in maps:
            maps[device.model] = fleet.map_of(device.index).to_json()
        host, port = server.endpoints[device.endpoint]
        devices.append(
            {
                "device_id": device.device_id,
                "model": device.model,
                "index": device.index,
                "host": host,
                "port": port,
                "unit_id": device.unit_id,
                "update_s": device.update_s,
            }
        )
    return {
        "format": HINT_FORMAT,
        "protocol": "modbus-tcp",
        "scenario": scenario.name,
        "seed": scenario.seed,
        "epoch_unix_s": server.epoch,
        "functions": [3, 4],
        "byte_order": "big",
        "word_order": scenario.southbound.word_order,
        "values": "registers show the model's sample for step floor((t - epoch) / update_s)",
        "register_maps": maps,
        "devices": devices,
    }


def opcua_fleet(scenario: Scenario, clock: Callable[[], float], epoch: float) -> OpcuaFleet:
    """The scenario's OPC UA servers; a scenario problem if asyncua is not installed."""
    try:
        from simulator.southbound.opcua_fleet import OpcuaFleet
    except ImportError as exc:
        raise ScenarioError(
            [
                ScenarioProblem(
                    scenario.name,
                    "southbound.protocol",
                    f"{scenario.southbound.protocol} needs the asyncua package ({exc}); "
                    "install it with: pip install 'factory-fleet-simulator[opcua]'",
                )
            ]
        ) from exc
    # asyncua warns on every start that a server without security has no signing policy:
    # true, and said once in the docs, not on every run.
    logging.getLogger("asyncua").setLevel(logging.ERROR)
    return OpcuaFleet(scenario, clock=clock, epoch=epoch)


def write_hint(hint: dict[str, Any], path: Path) -> None:
    """Write the hint as JSON, whole (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(hint, indent=1) + "\n", encoding="utf-8")
    partial.replace(path)


async def serve(
    scenario: Scenario,
    *,
    hint_path: Path,
    duration_s: float | None = None,
    announce: Callable[[str], None] = print,
    clock: Callable[[], float] = time.time,
) -> ServerCounters:
    """Serve until SIGTERM or SIGINT, or for ``duration_s``; return what was served."""
    protocol = scenario.southbound.protocol
    fleet = served_fleet(scenario)
    epoch = clock()
    modbus = "modbus" in protocol
    endpoints = scenario.southbound.endpoints(fleet.devices) if modbus else []
    faults = FaultPlan.from_settings(scenario.southbound.faults, fleet.devices, scenario.seed)
    server = (
        SouthboundServer(fleet, endpoints, clock=clock, epoch=epoch, faults=faults)
        if modbus
        else None
    )
    opcua = opcua_fleet(scenario, clock, epoch) if "opcua" in protocol else None
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    restarts: asyncio.Task[None] | None = None
    if server is not None:
        await server.start()
        restarts = loop.create_task(server.run_restarts())
    try:
        if opcua is not None:
            await opcua.start()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        if server is not None:
            hint = gateway_hint(scenario, server)
        else:
            hint = {
                "format": HINT_FORMAT,
                "scenario": scenario.name,
                "seed": scenario.seed,
                "epoch_unix_s": epoch,
                "values": "nodes show the model's sample for step floor((t - epoch) / update_s)",
            }
        if opcua is not None:
            hint["protocol"] = "modbus-tcp+opcua" if modbus else "opcua"
            hint["opcua"] = opcua.hint()
            for line in opcua.announcements():
                announce(line)
        write_hint(hint, hint_path)
        for number, (host, port) in enumerate(server.endpoints if server else []):
            first = number * fleet.devices_per_endpoint
            last = min(first + fleet.devices_per_endpoint, fleet.devices) - 1
            announce(
                f"modbus tcp {host}:{port}: devices {first}..{last} as unit ids "
                f"1..{last - first + 1}"
            )
        announce(f"gateway hint written to {hint_path}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), duration_s)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        if restarts is not None:
            restarts.cancel()
            await asyncio.gather(restarts, return_exceptions=True)
        if opcua is not None:
            await opcua.close()
            written = opcua.counters()
            announce(
                f"opc ua: {written.writes:,} values written in {written.rounds:,} rounds, "
                f"{written.skipped_steps:,} steps skipped by a late updater, "
                f"{written.callback_errors:,} subscription callbacks failed"
            )
        if server is not None:
            await server.close()
    return server.counters if server is not None else ServerCounters()
