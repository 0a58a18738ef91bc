"""``factory-sim southbound``: serve a scenario's fleet as Modbus TCP and/or OPC UA devices.

:class:`Southbound` builds every server the ``[southbound]`` table asks for: the Modbus TCP
endpoints of the :class:`~simulator.southbound.fleet_values.ServedFleet` and, with
``protocol = "opcua"`` or ``"modbus+opcua"``, the OPC UA servers
(:mod:`~simulator.southbound.opcua_fleet`; asyncua, which they need, is imported only then).
``modbus+opcua`` shows every device both ways, or with ``modbus_devices = K`` the first K over
Modbus only and the others over OPC UA only. It starts them, restarts them together on the
fault plan's schedule, and writes the gateway configuration hint (JSON: every device's
endpoint, unit id, id and model, each model's register map; under ``opcua`` the servers, node
maps and node ids; the epoch). With ``[southbound.opcua] process = "own"`` (the default) the
OPC UA servers run in a child process (:mod:`~simulator.southbound.opcua_child`), on a core of
their own, told the epoch and each restart; its death ends the serving early and the report
says so (``southbound.opcua.died``). :func:`serve` runs it until SIGTERM or SIGINT (or
``duration_s``). The clock is the wall clock, so the hint's ``epoch_unix_s`` lets whoever
checks a gateway's published values find the step each was read at.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simulator.errors import InvalidArgumentError, ScenarioError, ScenarioProblem
from simulator.scenario.schema import Scenario
from simulator.southbound.faults import FaultPlan
from simulator.southbound.fleet_values import ServedFleet
from simulator.southbound.server import ServerCounters, SouthboundServer, run_restarts

if TYPE_CHECKING:
    from simulator.southbound.opcua_child import OpcuaChild
    from simulator.southbound.opcua_fleet import OpcuaFleet

HINT_FORMAT = 1
"""Version of the hint file's layout."""


def served_fleet(scenario: Scenario) -> ServedFleet:
    """The devices the scenario's ``[southbound]`` table serves over Modbus TCP (all of them,
    or the first ``modbus_devices``), as it places them."""
    settings = scenario.southbound
    stop = settings.modbus_devices or scenario.fleet.devices
    groups = [
        replace(group, count=min(group.count, stop - group.start))
        for group in scenario.fleet.groups
        if group.start < stop
    ]
    return ServedFleet(
        groups,
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


def opcua_fleet(
    scenario: Scenario,
    clock: Callable[[], float],
    epoch: float,
    faults: FaultPlan | None = None,
) -> OpcuaFleet | OpcuaChild:
    """The scenario's OPC UA servers, in this process or, with ``process = "own"``, in a
    child process of their own (on the wall clock: ``clock`` must be :func:`time.time`); a
    scenario problem if asyncua is not installed."""
    try:
        from simulator.southbound.opcua_child import OpcuaChild
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
    if scenario.southbound.opcua.process == "own":
        if clock is not time.time:
            raise InvalidArgumentError(
                'OPC UA servers in their own process (process = "own") run on the wall '
                'clock; to inject a clock, serve them in this one (process = "shared")'
            )
        return OpcuaChild(scenario)
    return OpcuaFleet(scenario, clock=clock, epoch=epoch, faults=faults)


@dataclass(frozen=True, slots=True)
class Served:
    """What :func:`serve` did."""

    counters: ServerCounters
    """The Modbus TCP server's counters."""
    died: str | None
    """How the OPC UA servers' own process died, if it did."""


def write_hint(hint: dict[str, Any], path: Path) -> None:
    """Write the hint as JSON, whole (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(hint, indent=1) + "\n", encoding="utf-8")
    partial.replace(path)


class Southbound:
    """Every server a scenario's ``[southbound]`` table asks for (Modbus TCP endpoints, OPC UA
    servers, or both), started, restarted on the fault plan's schedule and closed together."""

    def __init__(self, scenario: Scenario, *, clock: Callable[[], float]) -> None:
        settings = scenario.southbound
        devices = scenario.fleet.devices
        modbus = settings.modbus_range(devices)
        self.scenario = scenario
        self.faults = FaultPlan.from_settings(
            settings.faults, devices, scenario.seed, modbus_devices=len(modbus)
        )
        self._clock = clock
        epoch = clock()
        self.epoch = epoch
        """Step 0 of every device on ``clock``: when :meth:`start` begins serving (once the
        OPC UA nodes are built), so a fault's ``at_s`` counts from then."""
        self.modbus = (
            SouthboundServer(
                served_fleet(scenario),
                settings.endpoints(len(modbus)),
                clock=clock,
                epoch=epoch,
                faults=self.faults,
            )
            if modbus
            else None
        )
        self.opcua = (
            opcua_fleet(scenario, clock, epoch, self.faults)
            if settings.opcua_range(devices)
            else None
        )
        self._restarts: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Build the OPC UA servers' nodes, then take the epoch and listen everywhere, then
        follow the plan's restarts; :class:`~simulator.errors.PortError` names an address in
        use."""
        try:
            if self.opcua is not None:
                await self.opcua.build()
            self.epoch = self._clock()
            if self.modbus is not None:
                self.modbus.epoch = self.epoch
                await self.modbus.start()
            if self.opcua is not None:
                await self.opcua.listen(self.epoch)
        except BaseException:
            await self.close()
            raise
        self._restarts = asyncio.get_running_loop().create_task(
            run_restarts(self.faults, self._clock, self.epoch, self._down, self._up)
        )

    async def _down(self) -> None:
        if self.modbus is not None:
            await self.modbus.close()
        if self.opcua is not None:
            await self.opcua.stop_listening()

    async def _up(self) -> None:
        if self.modbus is not None:
            await self.modbus.restart()
        if self.opcua is not None:
            await self.opcua.listen_again()

    async def close(self) -> None:
        """Stop restarting, updating and listening."""
        restarts, self._restarts = self._restarts, None
        if restarts is not None:
            restarts.cancel()
            await asyncio.gather(restarts, return_exceptions=True)
        if self.opcua is not None:
            await self.opcua.close()
        if self.modbus is not None:
            await self.modbus.close()

    def hint(self) -> dict[str, Any]:
        """The gateway hint (call once started: it names the ports as bound)."""
        scenario = self.scenario
        if self.modbus is not None:
            hint = gateway_hint(scenario, self.modbus)
        else:
            hint = {
                "format": HINT_FORMAT,
                "scenario": scenario.name,
                "seed": scenario.seed,
                "epoch_unix_s": self.epoch,
                "values": "nodes show the model's sample for step floor((t - epoch) / update_s)",
            }
        if self.opcua is not None:
            hint["protocol"] = "modbus-tcp+opcua" if self.modbus is not None else "opcua"
            hint["opcua"] = self.opcua.hint()
        return hint

    def announcements(self) -> list[str]:
        """A line per Modbus endpoint and OPC UA server: where, and which devices."""
        lines = self.opcua.announcements() if self.opcua is not None else []
        server = self.modbus
        if server is not None:
            per = server.fleet.devices_per_endpoint
            for number, (host, port) in enumerate(server.endpoints):
                first = number * per
                last = min(first + per, server.fleet.devices) - 1
                lines.append(
                    f"modbus tcp {host}:{port}: devices {first}..{last} as unit ids "
                    f"1..{last - first + 1}"
                )
        return lines

    @property
    def counters(self) -> ServerCounters:
        """What the Modbus TCP server did (zeros when there is none)."""
        return self.modbus.counters if self.modbus is not None else ServerCounters()

    @property
    def died(self) -> str | None:
        """How the OPC UA servers' own process ended without being asked to (None: it
        serves, was stopped in order, or there is none)."""
        return self.opcua.died if self.opcua is not None else None

    async def failed(self) -> str:
        """Wait until a part serving in a process of its own dies; how it did. Never
        returns when every part serves in this process."""
        if self.opcua is None:
            await asyncio.Event().wait()
            raise AssertionError("unreachable")
        return await self.opcua.ended()

    async def serving(self, stop: asyncio.Event, duration_s: float | None) -> None:
        """Serve until ``stop`` is set, ``duration_s`` has passed or a part in a process of
        its own dies (then :attr:`died` says how)."""
        waits = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.failed())}
        try:
            await asyncio.wait(waits, timeout=duration_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
            await asyncio.gather(*waits, return_exceptions=True)

    def report(self) -> dict[str, Any]:
        """The report's ``southbound`` section: the Modbus server's counters, and under
        ``opcua`` the OPC UA servers' when there are any, where they ran (``process``) and,
        if their own process died, how (``died``)."""
        section: dict[str, Any] = asdict(self.counters)
        if self.opcua is not None:
            section["opcua"] = asdict(self.opcua.counters()) | {
                "process": self.scenario.southbound.opcua.process,
                "died": self.died,
            }
        return section


async def serve(
    scenario: Scenario,
    *,
    hint_path: Path,
    duration_s: float | None = None,
    announce: Callable[[str], None] = print,
    clock: Callable[[], float] = time.time,
) -> Served:
    """Serve until SIGTERM or SIGINT, or for ``duration_s`` (or until the OPC UA servers'
    own process dies); return what was served."""
    south = Southbound(scenario, clock=clock)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    await south.start()
    try:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        write_hint(south.hint(), hint_path)
        for line in south.announcements():
            announce(line)
        announce(f"gateway hint written to {hint_path}")
        await south.serving(stop, duration_s)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await south.close()
        if south.opcua is not None:
            written = south.opcua.counters()
            announce(
                f"opc ua: {written.writes:,} values written in {written.rounds:,} rounds, "
                f"{written.skipped_steps:,} steps skipped by a late updater, "
                f"{written.callback_errors:,} subscription callbacks failed"
            )
    return Served(south.counters, south.died)
