"""The Modbus TCP server on real sockets, read by pymodbus's async client (an independent peer):
every device at every endpoint shows its model's ground truth for the step the injected clock
is at, decoded the way a gateway decodes it (pymodbus's own register conversion)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, Literal

import pytest
from pymodbus.client import AsyncModbusTcpClient

from simulator.errors import PortError
from simulator.fleet import get_model
from simulator.southbound.fleet_values import ServedFleet, sample_at, step_at
from simulator.southbound.register_map import RegisterField, RegisterType, register_map
from simulator.southbound.server import SouthboundServer
from tests.fake_clock import FakeClock
from tests.gateway_reads import field_number
from tests.integration.south_plant import GROUPS, LAYOUT, SEED

pytestmark = pytest.mark.sockets


class Served:
    def __init__(self, server: SouthboundServer, clock: FakeClock) -> None:
        self.server = server
        self.clock = clock
        self.clients: list[AsyncModbusTcpClient] = []

    async def client(self, endpoint: int) -> AsyncModbusTcpClient:
        host, port = self.server.endpoints[endpoint]
        client = AsyncModbusTcpClient(host, port=port, retries=0, timeout=10)
        self.clients.append(client)
        assert await client.connect()
        return client


async def serve(word_order: Literal["big", "little"]) -> AsyncIterator[Served]:
    fleet = ServedFleet(GROUPS, LAYOUT, seed=SEED, devices_per_endpoint=4, word_order=word_order)
    clock = FakeClock(5000.0)
    server = SouthboundServer(fleet, [("127.0.0.1", 0)] * 3, clock=clock, epoch=5000.0)
    await server.start()
    served = Served(server, clock)
    try:
        yield served
    finally:
        for client in served.clients:
            client.close()
        await server.close()


@pytest.fixture
async def big() -> AsyncIterator[Served]:
    async for served in serve("big"):
        yield served


@pytest.fixture
async def little() -> AsyncIterator[Served]:
    async for served in serve("little"):
        yield served


def expected(field: RegisterField, value: Any) -> Any:
    """What a gateway should read for ``value``: the field's value of its raw number."""
    raw = field.raw(value)
    if field.type is RegisterType.FLOAT32:
        return pytest.approx(value, rel=1e-6)
    return field.value(raw)


async def check_every_device(
    served: Served, t_s: float, word_order: Literal["big", "little"]
) -> int:
    """Read every device's whole map with functions 3 and 4; return the values checked."""
    served.clock.now = served.server.epoch + t_s
    checked = 0
    clients = [await served.client(e) for e in range(3)]
    for device in served.server.fleet:
        model = get_model(device.model)
        fields = register_map(model).fields
        size = register_map(model).size
        truth = sample_at(model, device.index, SEED, step_at(t_s, device.update_s), device.update_s)
        client = clients[device.endpoint]
        holding = await client.read_holding_registers(0, count=size, device_id=device.unit_id)
        inputs = await client.read_input_registers(0, count=size, device_id=device.unit_id)
        assert not holding.isError(), holding
        assert holding.registers == inputs.registers
        for field in fields:
            number = field_number(holding.registers, field, word_order)
            got = field.value(number)
            assert got == expected(field, truth[field.signal]), (device, field)
            checked += 1
    return checked


async def test_every_device_and_unit_id_shows_its_ground_truth(big: Served) -> None:
    first = await check_every_device(big, 42.3, "big")
    # Later, the devices have moved on (a robot 60 steps, a power meter 15) and still agree.
    second = await check_every_device(big, 72.9, "big")
    assert first == second > 100
    # Machines were running, so the values moved with time and a wrong step would show.
    robot = get_model("robot")
    assert sample_at(robot, 8, SEED, step_at(42.3, 0.5), 0.5)["state"] == "running"
    assert big.server.counters.reads == 2 * 2 * 10


async def test_the_low_word_first_when_the_scenario_says_little(little: Served) -> None:
    assert await check_every_device(little, 3600.0, "little") > 100


async def test_a_gateway_reading_registers_in_pieces_sees_one_step(big: Served) -> None:
    big.clock.now = big.server.epoch + 10.0
    client = await big.client(1)  # devices 4..7: power meters, then a robot
    size = register_map(get_model("power-meter")).size
    whole = await client.read_holding_registers(0, count=size, device_id=2)
    assert not whole.isError(), whole
    parts: list[int] = []
    for address in range(0, size, 3):
        part = await client.read_input_registers(address, count=min(3, size - address), device_id=2)
        parts.extend(part.registers)
    assert parts == whole.registers


async def test_exceptions_reach_the_client(big: Served) -> None:
    client = await big.client(2)  # devices 8 and 9 only: unit ids 1 and 2
    missing = await client.read_holding_registers(0, count=1, device_id=3)
    assert missing.isError()
    assert missing.exception_code == 0x0B
    size = register_map(get_model("robot")).size
    beyond = await client.read_holding_registers(size - 1, count=2, device_id=1)
    assert beyond.exception_code == 0x02
    assert big.server.counters.exceptions == {0x0B: 1, 0x02: 1}


async def test_a_port_in_use_is_a_port_error_and_nothing_stays_open(big: Served) -> None:
    taken = big.server.endpoints[1]
    fleet = big.server.fleet
    second = SouthboundServer(
        fleet, [("127.0.0.1", 0), taken, ("127.0.0.1", 0)], clock=big.clock, epoch=0.0
    )
    with pytest.raises(PortError, match="already in use"):
        await second.start()
    # The endpoint it had opened before the failure is closed again.
    assert len(second.endpoints) == 1
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(*second.endpoints[0])
