"""South-side faults on an OPC UA server, read by asyncua's client over TCP: a silent device's
values turn Bad (``BadNoCommunication``, the value null) while the others move on, and
come back good with the model's value when it ends; a restart drops every connection, refuses
new ones while down and listens again at the same port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from asyncua import Client, ua

from simulator.fleet import get_model
from simulator.southbound.faults import Fault, FaultPlan
from simulator.southbound.node_map import node_map
from simulator.southbound.opcua_server import OpcuaServer
from simulator.southbound.samples import sample_at, step_at
from tests.fake_clock import FakeClock
from tests.integration.south_plant import SEED
from tests.integration.test_southbound_opcua import started
from tests.waiting import wait_until

pytestmark = pytest.mark.sockets

SILENT = 2
"""A CNC machine (update_s 1 s), silent from 10.25 s to 20.25 s after the epoch."""
OTHER = 1


@pytest.fixture
async def faulty() -> AsyncIterator[tuple[OpcuaServer, FakeClock]]:
    clock = FakeClock(5000.0)
    plan = FaultPlan(
        [Fault(0, "silent", 10.25, 20.25, (SILENT,)), Fault(1, "silent", 3.0, 4.0, (99,))]
    )
    server = await started(clock, clock.now, faults=plan)
    try:
        yield server, clock
    finally:
        await server.close()


async def values(client: Client, server: OpcuaServer, index: int) -> list[ua.DataValue]:
    """Every value of device ``index`` in one Read call, Bad ones included."""
    device_id = server.blocks[0].device_id(index)
    ids = [
        ua.NodeId(f"{device_id}.{field.signal}", server.namespace_index)
        for field in node_map(get_model("cnc-machine")).fields
    ]
    read: list[ua.DataValue] = await client.uaclient.read_attributes(ids, ua.AttributeIds.Value)
    return read


def truth(index: int, t_s: float) -> list[object]:
    model = get_model("cnc-machine")
    sample = sample_at(model, index, SEED, step_at(t_s, 1.0), 1.0)
    return [sample[field.signal] for field in node_map(model).fields]


@pytest.mark.parametrize("last_seen_s", [15.5, 20.1], ids=["by-a-new-step", "mid-step"])
async def test_a_silent_device_turns_bad_and_comes_back_with_the_models_value(
    faulty: tuple[OpcuaServer, FakeClock], last_seen_s: float
) -> None:
    """``last_seen_s``: the last update while silent; from 20.1 s, the fault's end at 20.25 s
    falls within the step the device was last moved on to."""
    server, clock = faulty
    # The updater wakes at the fault's edges as well as at step boundaries.
    clock.now = server.epoch + 10.1
    assert server.next_update_s() == pytest.approx(0.15)
    async with Client(server.url, timeout=10) as client:
        clock.now = server.epoch + 9.5
        await server.update()
        before = await values(client, server, SILENT)
        assert [v.Value.Value for v in before] == truth(SILENT, 9.5)
        clock.now = server.epoch + 12.5
        await server.update()
        during = await values(client, server, SILENT)
        assert {v.StatusCode.value for v in during} == {ua.StatusCodes.BadNoCommunication}
        assert {v.Value.Value for v in during} == {None}  # Part 4, 7.7.1: a Bad value is null
        other = await values(client, server, OTHER)
        assert all(v.StatusCode.is_good() for v in other)
        assert [v.Value.Value for v in other] == truth(OTHER, 12.5)
        clock.now = server.epoch + last_seen_s  # still silent: no new value, still Bad
        await server.update()
        still = await values(client, server, SILENT)
        assert {(v.StatusCode.value, v.Value.Value) for v in still} == {
            (ua.StatusCodes.BadNoCommunication, None)
        }
        clock.now = server.epoch + 20.3  # over, mid-step: the step's value, good again
        await server.update()
        after = await values(client, server, SILENT)
        assert all(v.StatusCode.is_good() for v in after)
        assert [v.Value.Value for v in after] == truth(SILENT, 20.3)
    assert server.counters.silenced == 1


async def test_a_restart_drops_sessions_and_listens_again_at_the_same_port(
    faulty: tuple[OpcuaServer, FakeClock],
) -> None:
    server, _ = faulty
    port = server.port
    client = Client(server.url, timeout=5)
    await client.connect()
    before = await values(client, server, OTHER)
    await server.stop_listening()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
    with pytest.raises((ConnectionError, asyncio.TimeoutError, ua.UaError)):
        await values(client, server, OTHER)
    await client.disconnect()
    await server.listen_again()
    assert server.counters.restarts == 1
    async with Client(server.url, timeout=10) as again:
        await wait_until(lambda: server.port == port, "the same port")
        assert [v.Value.Value for v in await values(again, server, OTHER)] == [
            v.Value.Value for v in before
        ]
