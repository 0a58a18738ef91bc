"""The OPC UA server on real sockets, read by asyncua's client over TCP: the browse tree a
gateway walks (a folder per device, a variable per signal, units and ranges), every value equal
to the model's ground truth for the step the injected clock is at (the same truth Modbus
shows), and, on the wall clock, values that move on every ``update_s`` for readers and
subscribers alike."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import pytest
from asyncua import Client, ua

from simulator.errors import PortError
from simulator.fleet import get_model
from simulator.southbound.faults import FaultPlan
from simulator.southbound.node_map import (
    UNECE_NAMESPACE,
    NodeType,
    node_map,
    unece_unit_id,
)
from simulator.southbound.opcua_reads import READS
from simulator.southbound.opcua_server import COUNTERS, OpcuaServer
from simulator.southbound.samples import model_blocks, sample_at, step_at
from tests.fake_clock import FakeClock
from tests.integration.south_plant import GROUPS, LAYOUT, SEED
from tests.waiting import wait_until

pytestmark = pytest.mark.sockets

NAMESPACE = "urn:factory-sim:test"
_TYPES = {
    NodeType.DOUBLE: ua.VariantType.Double,
    NodeType.INT64: ua.VariantType.Int64,
    NodeType.STRING: ua.VariantType.String,
}


async def started(
    clock: Callable[[], float],
    epoch: float,
    devices: range = range(10),
    update_s: float | None = None,
    faults: FaultPlan | None = None,
) -> OpcuaServer:
    """An OPC UA server of the south plant's ``devices``, listening on a port of the system's
    choosing."""
    server = OpcuaServer(
        model_blocks(GROUPS, LAYOUT, update_s),
        devices,
        seed=SEED,
        host="127.0.0.1",
        port=0,
        namespace=NAMESPACE,
        clock=clock,
        epoch=epoch,
        faults=faults,
    )
    await server.start()
    return server


@pytest.fixture
async def fixed() -> AsyncIterator[tuple[OpcuaServer, FakeClock]]:
    clock = FakeClock(5000.0)
    server = await started(clock, 5000.0)
    try:
        yield server, clock
    finally:
        await server.close()


@pytest.fixture
async def client(fixed: tuple[OpcuaServer, FakeClock]) -> AsyncIterator[Client]:
    async with Client(fixed[0].url, timeout=10) as connected:
        yield connected


def device_ids() -> list[tuple[int, str, str, float]]:
    """(index, device id, model, update_s) of every device of GROUPS."""
    return [
        (index, block.device_id(index), block.model.name, block.update_s)
        for block in model_blocks(GROUPS, LAYOUT, None)
        for index in range(block.start, block.start + block.count)
    ]


async def test_the_tree_has_a_folder_per_device_and_a_typed_variable_per_signal(
    fixed: tuple[OpcuaServer, FakeClock], client: Client
) -> None:
    ns = await client.get_namespace_index(NAMESPACE)
    assert ns == fixed[0].namespace_index == 2
    devices = client.get_node(ua.NodeId("devices", ns))
    folders = await devices.get_children()
    assert [f.nodeid for f in folders] == [ua.NodeId(d, ns) for _, d, _, _ in device_ids()]
    assert [(await f.read_browse_name()).Name for f in folders] == [
        d for _, d, _, _ in device_ids()
    ]
    objects = [o.nodeid for o in await client.nodes.objects.get_children()]
    assert devices.nodeid in objects
    assert ua.NodeId("simulator", ns) in objects

    for (_, device_id, model_name, update_s), folder in zip(device_ids(), folders, strict=True):
        fields = node_map(get_model(model_name)).fields
        variables = await folder.get_children()
        assert [v.nodeid.Identifier for v in variables] == [
            f"{device_id}.{f.signal}" for f in fields
        ]
        for field, variable in zip(fields, variables, strict=True):
            assert (await variable.read_browse_name()).Name == field.signal
            assert await variable.read_data_type_as_variant_type() == _TYPES[field.type]
            assert (await variable.read_description()).Text == field.description
            interval = await variable.read_attribute(ua.AttributeIds.MinimumSamplingInterval)
            assert interval.Value.Value == update_s * 1000.0
            properties = {
                (await p.read_browse_name()).Name: await p.read_value()
                for p in await variable.get_properties()
            }
            if field.unit:
                units = properties["EngineeringUnits"]
                assert units.DisplayName.Text == field.unit
                assert units.NamespaceUri == UNECE_NAMESPACE
                assert units.UnitId == (unece_unit_id(field.unece) if field.unece else -1)
            else:
                assert "EngineeringUnits" not in properties
            if field.low is not None:
                assert (properties["EURange"].Low, properties["EURange"].High) == (
                    field.low,
                    field.high,
                )
    # A unit gateways know by its UNECE code: degrees Celsius on a robot joint.
    robot = node_map(get_model("robot")).fields
    assert next(f for f in robot if f.signal == "joint_temp_1_c").unece == "CEL"


async def read_all(client: Client, ns: int) -> dict[tuple[str, str], ua.DataValue]:
    """Every signal of every device, in one Read request, as a polling gateway reads."""
    keys = [
        (device_id, field.signal)
        for _, device_id, model_name, _ in device_ids()
        for field in node_map(get_model(model_name)).fields
    ]
    nodes = [client.get_node(ua.NodeId(f"{d}.{s}", ns)) for d, s in keys]
    values = await client.read_attributes(nodes)
    return dict(zip(keys, values, strict=True))


async def check_every_value(
    server: OpcuaServer, clock: FakeClock, client: Client, t_s: float
) -> int:
    """Move the clock to ``t_s``, let the updater write, and compare every node with the
    model's sample for the step ``t_s`` is at; return the values checked."""
    clock.now = server.epoch + t_s
    await server.update()
    values = await read_all(client, server.namespace_index)
    checked = 0
    for index, device_id, model_name, update_s in device_ids():
        model = get_model(model_name)
        step = step_at(t_s, update_s)
        truth = sample_at(model, index, SEED, step, update_s)
        for field in node_map(model).fields:
            value = values[device_id, field.signal]
            assert value.StatusCode.is_good(), (device_id, field)
            # Double is the model's float itself, Int64 its int, String the state's name.
            assert value.Value.Value == truth[field.signal], (device_id, field, step)
            assert value.Value.VariantType == _TYPES[field.type]
            assert value.SourceTimestamp == datetime.fromtimestamp(
                server.epoch + step * update_s, UTC
            )
            checked += 1
    return checked


async def test_every_value_is_the_models_ground_truth_at_the_step(
    fixed: tuple[OpcuaServer, FakeClock], client: Client
) -> None:
    server, clock = fixed
    hits = READS.hits
    first = await check_every_value(server, clock, client, 42.3)
    # Later, the devices have moved on (a robot 60 steps, a power meter 15) and still agree,
    # though the same request was decoded once (opcua_reads): only its values are read anew.
    second = await check_every_value(server, clock, client, 72.9)
    assert first == second > 100
    assert READS.hits > hits
    robot = get_model("robot")
    assert sample_at(robot, 8, SEED, step_at(42.3, 0.5), 0.5)["state"] == "running"
    # A clock that goes back (a test's, or a wall clock set back) shows the earlier step again.
    assert await check_every_value(server, clock, client, 10.0) == first
    writes = server.counters.writes
    assert await server.update() == 0  # nothing is due at the same instant
    assert server.counters.writes == writes
    # The updater's counters are nodes too, as a benchmark or a test reads them.
    shown = await client.read_values(
        [client.get_node(ua.NodeId(f"simulator.{name}", 2)) for name in COUNTERS]
    )
    assert dict(zip(COUNTERS, shown, strict=True)) == asdict(server.counters)
    assert server.counters.rounds == 4  # at the start, then at 42.3, 72.9 and 10.0
    assert server.counters.skipped_steps > 0  # 42.3 to 72.9: steps between never shown


async def test_values_move_on_every_update_s_for_readers_and_subscribers() -> None:
    """On the wall clock and the server's own updater: a robot at update_s 0.2 s shows a new
    step within a few steps, the value always the truth of the step its timestamp names, and a
    subscription is told of the changes without polling."""
    epoch = time.time()
    server = await started(time.time, epoch, range(7, 10), update_s=0.2)
    updater = asyncio.create_task(server.run())
    changes: list[ua.DataValue] = []

    class Handler:
        def datachange_notification(self, node: Any, value: Any, data: Any) -> None:
            changes.append(data.monitored_item.Value)

    try:
        async with Client(server.url, timeout=10) as client:
            ns = server.namespace_index
            model = get_model("robot")
            device_id = model_blocks(GROUPS, LAYOUT, 0.2)[2].device_id(7)
            node = client.get_node(ua.NodeId(f"{device_id}.joint_temp_1_c", ns))
            subscription = await client.create_subscription(50, Handler())
            await subscription.subscribe_data_change(node)

            def step_of(value: ua.DataValue) -> int:
                # The source timestamp is the step's instant, to the microsecond.
                seconds: float = value.SourceTimestamp.timestamp() - epoch
                return round(seconds / 0.2)

            first = await node.read_data_value()
            seen = [first]

            async def read_again() -> None:
                seen.append(await node.read_data_value())

            deadline = time.monotonic() + 30
            while step_of(seen[-1]) < step_of(first) + 3:
                assert time.monotonic() < deadline, "the value never moved on"
                await read_again()
            for value in seen:
                truth = sample_at(model, 7, SEED, step_of(value), 0.2)["joint_temp_1_c"]
                assert value.Value.Value == truth
            await wait_until(lambda: len(changes) >= 3, "three data change notifications")
            steps = [step_of(value) for value in changes]
            assert steps == sorted(set(steps))
            # The first change may be the value a monitored item is given when it is made
            # (OPC UA Part 4, 5.12.1.2), which is no notification of the updater's.
            assert server.counters.notified >= len(changes) - 1
            for value in changes:
                truth = sample_at(model, 7, SEED, step_of(value), 0.2)["joint_temp_1_c"]
                assert value.Value.Value == truth
    finally:
        updater.cancel()
        await asyncio.gather(updater, return_exceptions=True)
        await server.close()
    assert server.counters.rounds >= 3


async def test_a_server_shows_only_its_block_of_devices() -> None:
    clock = FakeClock(5000.0)
    server = await started(clock, 5000.0, range(5, 8))
    try:
        async with Client(server.url, timeout=10) as client:
            devices = client.get_node(ua.NodeId("devices", server.namespace_index))
            names = [(await f.read_browse_name()).Name for f in await devices.get_children()]
    finally:
        await server.close()
    assert names == [d for index, d, _, _ in device_ids() if 5 <= index < 8]


async def test_a_port_in_use_is_named() -> None:
    clock = FakeClock(5000.0)
    first = await started(clock, 5000.0, range(1))
    second = OpcuaServer(
        model_blocks(GROUPS, LAYOUT, None),
        range(1),
        seed=SEED,
        host="127.0.0.1",
        port=first.port,
        namespace=NAMESPACE,
        clock=clock,
        epoch=5000.0,
    )
    try:
        with pytest.raises(PortError, match=str(first.port)):
            await second.start()
    finally:
        await second.close()
        await first.close()
