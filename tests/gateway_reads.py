"""The simulated south side read as a gateway reads it, through independent clients: pymodbus
for Modbus TCP, asyncua for OPC UA. What these return is what a real gateway would see, so the
tests compare it with the model's ground truth, never with our own encoder's output."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from asyncua import Client, ua
from pymodbus.client import AsyncModbusTcpClient

from simulator.southbound.register_map import RegisterField, RegisterType

_DATATYPES = {
    RegisterType.UINT16: AsyncModbusTcpClient.DATATYPE.UINT16,
    RegisterType.INT16: AsyncModbusTcpClient.DATATYPE.INT16,
    RegisterType.UINT32: AsyncModbusTcpClient.DATATYPE.UINT32,
    RegisterType.INT32: AsyncModbusTcpClient.DATATYPE.INT32,
    RegisterType.FLOAT32: AsyncModbusTcpClient.DATATYPE.FLOAT32,
}


async def holding_registers(host: str, port: int, unit_id: int, count: int) -> list[int]:
    """The holding registers 0 to ``count - 1`` of a unit, in one request on a new connection."""
    client = AsyncModbusTcpClient(host, port=port, retries=0, timeout=10)
    assert await client.connect()
    try:
        response = await client.read_holding_registers(0, count=count, device_id=unit_id)
    finally:
        client.close()
    assert not response.isError(), response
    return list(response.registers)


def field_number(
    registers: Sequence[int], field: RegisterField, word_order: Literal["big", "little"] = "big"
) -> int | float:
    """The number ``field`` holds in a unit's ``registers`` (read from register 0), decoded by
    pymodbus's own conversion for the field's type."""
    number = AsyncModbusTcpClient.convert_from_registers(
        registers[field.address : field.address + field.count],
        _DATATYPES[field.type],
        word_order=word_order,
    )
    assert isinstance(number, int | float), number
    return number


async def opcua_values(url: str, node_ids: list[str]) -> list[ua.DataValue]:
    """The values of ``node_ids`` in one Read request on a new session, as a gateway polls."""
    async with Client(url, timeout=10) as client:
        return list(await client.read_attributes([client.get_node(n) for n in node_ids]))
