"""The fleet as one or several OPC UA servers, and what a gateway needs to read them.

``[southbound.opcua] servers = K`` splits the fleet's N devices into K blocks of
``ceil(N / K)`` consecutive devices (fewer servers when N < K), each an
:class:`~simulator.southbound.opcua_server.OpcuaServer` with its own port and its own updater.
:meth:`OpcuaFleet.hint` is the OPC UA part of the gateway configuration hint: every server's
endpoint URL, the namespace, each model's node map and every device's folder and node ids.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from simulator.scenario.schema import Scenario
from simulator.southbound.faults import FaultPlan
from simulator.southbound.node_map import COUNTERS_FOLDER, DEVICES_FOLDER, node_id, node_map
from simulator.southbound.opcua_server import COUNTERS, OpcuaCounters, OpcuaServer
from simulator.southbound.samples import model_blocks


def device_ranges(devices: int | range, servers: int) -> list[range]:
    """The devices each server shows: ``devices`` (a count from 0, or a range of indexes)
    in consecutive blocks of ``ceil(len(devices) / servers)``."""
    shown = range(devices) if isinstance(devices, int) else devices
    per = -(-len(shown) // servers)
    return [
        range(first, min(first + per, shown.stop)) for first in range(shown.start, shown.stop, per)
    ]


class OpcuaFleet:
    """A scenario's fleet as OPC UA servers, started, updated and closed together."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        clock: Callable[[], float],
        epoch: float,
        faults: FaultPlan | None = None,
    ) -> None:
        """The servers of the devices ``[southbound]`` serves over OPC UA; ``faults``: the
        scenario's south-side faults (the servers show their silent devices')."""
        settings = scenario.southbound
        blocks = model_blocks(scenario.fleet.groups, scenario.fleet.plant, settings.update_s)
        opcua = settings.opcua
        ranges = device_ranges(settings.opcua_range(scenario.fleet.devices), opcua.servers)
        endpoints = opcua.endpoints(settings.hosts)
        self.servers = [
            OpcuaServer(
                blocks,
                devices,
                seed=scenario.seed,
                host=host,
                port=port,
                namespace=opcua.namespace,
                clock=clock,
                epoch=epoch,
                faults=faults,
            )
            for devices, (host, port) in zip(ranges, endpoints, strict=False)
        ]
        self._blocks = blocks
        self._updaters: list[asyncio.Task[None]] = []
        self.died: str | None = None
        """Always None: servers in this process end with it (the face of
        :class:`~simulator.southbound.opcua_child.OpcuaChild`, whose process may die alone)."""

    async def ended(self) -> str:
        """Never returns: servers in this process cannot end apart from it (as
        :meth:`OpcuaChild.ended <simulator.southbound.opcua_child.OpcuaChild.ended>` does when
        its process dies)."""
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def start(self) -> None:
        """Start every server (nodes built, values of now written), then their updaters."""
        await self.build()
        await self.listen()

    async def build(self) -> None:
        """Build every server's nodes, listening nowhere yet."""
        try:
            for server in self.servers:
                await server.build()
        except BaseException:
            await self.close()
            raise

    async def listen(self, epoch: float | None = None) -> None:
        """Write the values of now, listen and start the updaters; ``epoch``: step 0 on the
        clock, when serving starts (default: as constructed)."""
        try:
            for server in self.servers:
                if epoch is not None:
                    server.epoch = epoch
                await server.listen()
        except BaseException:
            await self.close()
            raise
        self._updaters = [asyncio.create_task(server.run()) for server in self.servers]

    async def stop_listening(self) -> None:
        """Drop every connection and stop listening; values go on being updated."""
        for server in self.servers:
            await server.stop_listening()

    async def listen_again(self) -> None:
        """Listen again at the ports first bound."""
        for server in self.servers:
            await server.listen_again()

    async def close(self) -> None:
        """Stop the updaters and the servers."""
        updaters, self._updaters = self._updaters, []
        for task in updaters:
            task.cancel()
        await asyncio.gather(*updaters, return_exceptions=True)
        for server in self.servers:
            await server.close()

    def counters(self) -> OpcuaCounters:
        """Every server's updater figures, added up."""
        total = OpcuaCounters()
        for server in self.servers:
            total.rounds += server.counters.rounds
            total.writes += server.counters.writes
            total.skipped_steps += server.counters.skipped_steps
            total.notified += server.counters.notified
            total.callback_errors += server.counters.callback_errors
            total.silenced += server.counters.silenced
            total.restarts += server.counters.restarts
        return total

    def announcements(self) -> list[str]:
        """A line per server: where it listens and which devices it shows."""
        return [
            f"opc ua {server.url}: devices {server.devices.start}..{server.devices.stop - 1} "
            f"in namespace {server.namespace} (ns={server.namespace_index})"
            for server in self.servers
        ]

    def hint(self) -> dict[str, Any]:
        """The OPC UA part of the gateway hint (call once started: the URLs hold the ports)."""
        maps: dict[str, Any] = {}
        devices: list[dict[str, Any]] = []
        for number, server in enumerate(self.servers):
            ns = server.namespace_index
            for block in self._blocks:
                fields = node_map(block.model).fields
                first = max(block.start, server.devices.start)
                stop = min(block.start + block.count, server.devices.stop)
                if first < stop and block.model.name not in maps:
                    maps[block.model.name] = node_map(block.model).to_json()
                for index in range(first, stop):
                    device_id = block.device_id(index)
                    devices.append(
                        {
                            "device_id": device_id,
                            "model": block.model.name,
                            "index": index,
                            "server": number,
                            "url": server.url,
                            "update_s": block.update_s,
                            "folder": f"ns={ns};s={device_id}",
                            "nodes": {
                                f.signal: f"ns={ns};s={node_id(device_id, f.signal)}"
                                for f in fields
                            },
                        }
                    )
        return {
            "namespace": self.servers[0].namespace,
            "namespace_index": self.servers[0].namespace_index,
            "devices_folder": f"ns={self.servers[0].namespace_index};s={DEVICES_FOLDER}",
            "node_id": "ns=<namespace_index>;s=<device_id>.<signal>",
            "counters": {
                name: f"ns={self.servers[0].namespace_index};s={node_id(COUNTERS_FOLDER, name)}"
                for name in COUNTERS
            },
            "security": "None",
            "timestamps": "a value's SourceTimestamp is the instant of the step it shows",
            "servers": [
                {
                    "url": server.url,
                    "host": server.host,
                    "port": server.port,
                    "devices": [server.devices.start, server.devices.stop - 1],
                }
                for server in self.servers
            ],
            "node_maps": maps,
            "devices": devices,
        }
