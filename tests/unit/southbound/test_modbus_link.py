"""The asyncio adapter driven by hand: bytes into ``data_received``, answers out of a fake
transport, the clock fixed by the test."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from simulator.errors import InvalidArgumentError
from simulator.fleet import PlantLayout, get_model
from simulator.scenario.composition import Group
from simulator.southbound.fleet_values import ServedFleet, sample_at
from simulator.southbound.modbus import (
    NEED_DATA,
    ExceptionCode,
    ExceptionResponse,
    ModbusClientConnection,
    RegistersRead,
    encode_read_request,
)
from simulator.southbound.register_map import RegisterEncoder, register_map
from simulator.southbound.server import ModbusLink, SouthboundServer
from tests.fake_clock import FakeClock


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def close(self) -> None:
        self.closed = True


def setup(groups: tuple[Group, ...] = (Group("robot", "msgpack", 1.0, 0, 4),)) -> Any:
    served = ServedFleet(groups, PlantLayout(1, 1), seed=3, devices_per_endpoint=2)
    clock = FakeClock(1000.0)
    server = SouthboundServer(served, [("127.0.0.1", 0)] * 2, clock=clock, epoch=1000.0)
    link = ModbusLink(server, 1)
    transport = FakeTransport()
    link.connection_made(transport)
    return server, link, transport, clock


def responses(transport: FakeTransport) -> list[object]:
    client = ModbusClientConnection()
    client.receive_data(b"".join(transport.written))
    out: list[object] = []
    while (response := client.next_response()) is not NEED_DATA:
        out.append(response)
    return out


def test_pipelined_requests_are_answered_in_one_write_in_order() -> None:
    server, link, transport, clock = setup()
    clock.now = 1012.5
    link.data_received(
        encode_read_request(1, 1, 3, 0, 4)
        + encode_read_request(2, 2, 4, 2, 2)
        + encode_read_request(3, 3, 3, 0, 1)  # no device: endpoint 1 has units 1 and 2
        + encode_read_request(4, 1, 3, 200, 1)  # past the map
        + encode_read_request(5, 1, 3, 0, 1)[:7]  # half of the next one
    )
    assert len(transport.written) == 1
    robot = get_model("robot")
    encoder = RegisterEncoder(register_map(robot))
    device_2 = encoder.encode(sample_at(robot, 2, 3, 12, 1.0))
    device_3 = encoder.encode(sample_at(robot, 3, 3, 12, 1.0))
    assert responses(transport) == [
        RegistersRead(1, 1, 3, device_2[:8]),
        RegistersRead(2, 2, 4, device_3[4:8]),
        ExceptionResponse(3, 3, 3, ExceptionCode.GATEWAY_TARGET_FAILED),
        ExceptionResponse(4, 1, 3, ExceptionCode.ILLEGAL_DATA_ADDRESS),
    ]
    assert server.counters.reads == 2
    assert server.counters.registers == 6
    assert server.counters.exceptions == {0x0B: 1, 0x02: 1}


def test_an_unknown_function_is_illegal() -> None:
    _, link, transport, _ = setup()
    link.data_received(bytes.fromhex("0009 0000 0006 01 06 0001 0005".replace(" ", "")))
    assert responses(transport) == [ExceptionResponse(9, 1, 6, ExceptionCode.ILLEGAL_FUNCTION)]


def test_a_model_that_fails_is_a_server_device_failure_and_counted() -> None:
    server, link, transport, _ = setup(
        (Group("robot", "msgpack", 1.0, 0, 1), Group("robot", "msgpack", 1.0, 1, 3))
    )
    broken = server.fleet._groups[1]

    class Broken:
        name = "robot"

        def new_state(self, index: int, seed: int) -> object:
            raise RuntimeError("a model bug")

    broken.model = Broken()
    link.data_received(encode_read_request(1, 1, 3, 0, 1))
    assert responses(transport) == [ExceptionResponse(1, 1, 3, ExceptionCode.SERVER_DEVICE_FAILURE)]
    assert server.counters.device_failures == 1


def test_bytes_that_are_not_modbus_close_the_connection_after_the_answers_before() -> None:
    server, link, transport, _ = setup()
    link.data_received(encode_read_request(1, 1, 3, 0, 1) + b"GET / HTTP/1.1\r\n\r\n")
    assert [type(r) for r in responses(transport)] == [RegistersRead]
    assert transport.closed
    assert server.counters.protocol_errors == 1


def test_a_server_needs_an_endpoint_for_every_block_of_units() -> None:
    served = ServedFleet(
        (Group("robot", "msgpack", 1.0, 0, 5),), PlantLayout(1, 1), seed=3, devices_per_endpoint=2
    )
    with pytest.raises(InvalidArgumentError, match="3 endpoints needed, 2 given"):
        SouthboundServer(served, [("127.0.0.1", 0)] * 2, clock=FakeClock(1000.0), epoch=0.0)
