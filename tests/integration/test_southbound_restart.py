"""A server restart (``[[southbound.faults]]`` kind ``restart``) on real sockets: every
connection is dropped, nothing listens while it is down, and it listens again at the ports
it had, where a gateway's new connection reads as before (pymodbus's client)."""

from __future__ import annotations

import asyncio

import pytest

from simulator.fleet import PlantLayout
from simulator.scenario.composition import Group
from simulator.southbound.faults import Fault, FaultPlan
from simulator.southbound.fleet_values import ServedFleet
from simulator.southbound.server import SouthboundServer
from tests.fake_clock import FakeClock
from tests.gateway_reads import holding_registers
from tests.waiting import wait_until

pytestmark = pytest.mark.sockets


async def test_a_restart_drops_connections_and_listens_again_at_the_same_ports() -> None:
    fleet = ServedFleet(
        (Group("robot", "msgpack", 1.0, 0, 2),), PlantLayout(1, 1), seed=3, devices_per_endpoint=2
    )
    clock = FakeClock(5000.0)
    restart = Fault(0, "restart", 1.0, 3.0, ())  # down 2 s of real time: ample to see
    server = SouthboundServer(
        fleet, [("127.0.0.1", 0)], clock=clock, epoch=clock.now, faults=FaultPlan([restart])
    )
    await server.start()
    ((host, port),) = server.endpoints
    before = await holding_registers(host, port, unit_id=1, count=2)
    held = await asyncio.open_connection(host, port)
    await wait_until(lambda: len(server.links) == 1, "the held connection")
    clock.now += 1.0  # the restart is due: run_restarts does it at once
    restarts = asyncio.create_task(server.run_restarts())
    try:
        reader, writer = held
        assert await reader.read() == b""  # dropped by the server
        writer.close()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(host, port)
        await wait_until(lambda: server.counters.restarts == 1, "the server to listen again")
        assert server.endpoints == [(host, port)]
        # The clock stood still: the same step.
        assert await holding_registers(host, port, unit_id=1, count=2) == before
    finally:
        restarts.cancel()
        await asyncio.gather(restarts, return_exceptions=True)
        await server.close()
