"""The polling gateway over OPC UA, end to end: the same twelve devices as test_poller.py on
one OPC UA server (or split: six over Modbus TCP, six over OPC UA), the gateway reading every
node of the server with one Read call per poll, the check comparing each published value with
the Double, Int64 or state name the node held. (Faults over OPC UA: test_poller.py.)"""

from __future__ import annotations

from typing import Any

import pytest
from test_poller import FLEET, OPCUA, POLLS, assert_named_only, run_gateway

from simulator.pytest_plugin import SouthboundFactory

SPLIT: dict[str, Any] = {
    **FLEET,
    "southbound": {**FLEET["southbound"], "protocol": "modbus+opcua", "modbus_devices": 6},
}
"""The same, cnc-000000..000005 over Modbus TCP only and the rest over OPC UA only."""


def assert_clean(gateway: dict[str, Any]) -> None:
    assert gateway["devices"]["seen"] == gateway["devices"]["expected"] == 12, gateway["devices"]
    tags = gateway["tags"]
    assert (tags["missing"], tags["unknown"]) == (0, 0), tags
    values = gateway["values"]
    assert (values["wrong"], values["stale"]) == (0, 0), values
    assert values["correct"] >= POLLS * tags["expected"], values
    assert gateway["latency_ms"]["count"] > 0


@pytest.mark.parametrize("scenario", [OPCUA, SPLIT], ids=["opcua", "modbus-and-opcua"])
def test_a_correct_gateway_reading_opcua_passes_on_every_device(
    factory_southbound: SouthboundFactory, scenario: dict[str, Any]
) -> None:
    assert_clean(run_gateway(factory_southbound, scenario))


def test_one_read_call_per_batch_of_nodes_gives_the_same_pass(
    factory_southbound: SouthboundFactory,
) -> None:
    """Twelve devices' 138 nodes in Read calls of 50 nodes: three calls per poll, still one
    message per device."""
    assert_clean(run_gateway(factory_southbound, OPCUA, read_batch=50))


@pytest.mark.parametrize(
    ("mistake", "device", "signal"),
    [
        ({"scale": {("pm-000006", "voltage_l1_v"): 1000.0}}, "pm-000006", "voltage_l1_v"),
        (
            {"remap": {("cnc-000001", "axis_temp_x_c"): "axis_temp_y_c"}},
            "cnc-000001",
            "axis_temp_x_c",
        ),
        # Within a register's resolution, but not the Double the node held.
        ({"scale": {("pm-000006", "voltage_l1_v"): 1 + 1e-7}}, "pm-000006", "voltage_l1_v"),
    ],
    ids=["unit-mistake", "wrong-node", "off-by-1e-7"],
)
def test_a_gateway_mistake_on_one_opcua_signal_is_named_on_that_device_and_signal_only(
    factory_southbound: SouthboundFactory, mistake: dict[str, Any], device: str, signal: str
) -> None:
    """A value published in mV for V, read from the neighbouring axis's node, or off by a
    part in ten million: OPC UA's truth is the Double itself."""
    assert_named_only(run_gateway(factory_southbound, OPCUA, **mistake), device, signal)
