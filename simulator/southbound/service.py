"""``factory-sim southbound``: serve a scenario's fleet as Modbus TCP devices until stopped.

Builds the :class:`~simulator.southbound.fleet_values.ServedFleet` from the scenario, listens
at its endpoints, writes the gateway configuration hint (JSON: every device's endpoint, unit id,
id and model, each model's register map, the epoch), then serves until SIGTERM or SIGINT (or
``duration_s``). The clock is the wall clock, so the hint's ``epoch_unix_s`` lets whoever
checks a gateway's published values find the step each was read at.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simulator.scenario.schema import Scenario
from simulator.southbound.fleet_values import ServedFleet
from simulator.southbound.server import ServerCounters, SouthboundServer

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
    fleet = served_fleet(scenario)
    endpoints = scenario.southbound.endpoints(fleet.devices)
    server = SouthboundServer(fleet, endpoints, clock=clock, epoch=clock())
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    await server.start()
    try:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        write_hint(gateway_hint(scenario, server), hint_path)
        for number, (host, port) in enumerate(server.endpoints):
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
        await server.close()
    return server.counters
