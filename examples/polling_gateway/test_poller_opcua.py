"""The polling gateway over OPC UA, end to end: the same twelve devices as test_poller.py on
one OPC UA server (or split: six over Modbus TCP, six over OPC UA), the gateway reading every
node of the server with one Read call per poll, the check comparing each published value with
the Double, Int64 or state name the node held."""

from __future__ import annotations

from typing import Any

import pytest
from poller import Poller
from test_poller import FLEET, POLLS, WAIT_S, run_gateway

from simulator.pytest_plugin import SouthboundFactory
from tests.waiting import wait_until_sync

OPCUA: dict[str, Any] = {
    **FLEET,
    "southbound": {"protocol": "opcua", "update_s": 0.5, "opcua": {"port": 0}},
}
"""Twelve devices (cnc machines, then power meters) on one OPC UA server, values changing
twice a second."""

SPLIT: dict[str, Any] = {
    **FLEET,
    "southbound": {**FLEET["southbound"], "protocol": "modbus+opcua", "modbus_devices": 6},
}
"""The same, cnc-000000..000005 over Modbus TCP only and the rest over OPC UA only."""

SLOW_POLL_S = 0.5


def assert_clean(gateway: dict[str, Any]) -> None:
    assert gateway["devices"]["seen"] == gateway["devices"]["expected"] == 12, gateway["devices"]
    tags = gateway["tags"]
    assert (tags["missing"], tags["unknown"]) == (0, 0), tags
    values = gateway["values"]
    assert (values["wrong"], values["stale"], values["flagged"]) == (0, 0, 0), values
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
    gateway = run_gateway(factory_southbound, OPCUA, **mistake)
    values = gateway["values"]
    assert list(values["wrong_tags"]) == [f"{device}/{signal}"], values
    assert values["wrong"] >= POLLS
    example = values["wrong_examples"][0]
    assert (example["device"], example["signal"]) == (device, signal)
    assert example["got"] != example["expected"]
    assert values["stale"] == 0
    assert gateway["devices"]["seen"] == 12


@pytest.mark.parametrize(
    ("flag_failures", "reaction", "staleness_ms"),
    [(True, "flagged", 1000), (False, "stopped", 800)],
    ids=["quality-flag", "data-stops"],
)
def test_a_silent_opcua_device_shows_within_two_poll_intervals(
    factory_southbound: SouthboundFactory, flag_failures: bool, reaction: str, staleness_ms: int
) -> None:
    """The server turns the device's values Bad; a gateway that flags what it cannot read
    shows it at its next poll, one that publishes nothing for it once no good value came for
    ``max_staleness_ms``."""
    fault = {"at_s": 3.0, "kind": "silent", "devices": [3], "duration_s": 1.5}
    scenario = {
        **OPCUA,
        "southbound": {**OPCUA["southbound"], "faults": [fault]},
        "gateway": {**OPCUA["gateway"], "max_staleness_ms": staleness_ms},
    }
    south = factory_southbound(scenario=scenario)
    with Poller(
        south.hint_path, south.broker_url, poll_s=SLOW_POLL_S, flag_failures=flag_failures
    ) as gateway:
        wait_until_sync(
            lambda: gateway.reads["cnc-000003", "failed"] > 0, "the silent device's Bad", WAIT_S
        )
        good_before = gateway.reads["cnc-000003", "good"]
        wait_until_sync(
            lambda: gateway.reads["cnc-000003", "good"] >= good_before + 2,
            "the device to answer again",
            WAIT_S,
        )
        published = gateway.published
        wait_until_sync(
            lambda: south.received >= published, "the check to hear every message", WAIT_S
        )
    report = south.report().raw
    (found,) = report["gateway"]["faults"]
    assert (found["kind"], found["devices"], found["detected"]) == ("silent", 1, 1), found
    assert found["reactions"] == {reaction: 1}, found
    assert found["detected_after_s"]["max"] <= 2 * SLOW_POLL_S, found
    values = report["gateway"]["values"]
    assert (values["flagged"] > 0) is flag_failures
    assert (values["wrong"], values["stale"]) == (0, 0), values
    assert report["southbound"]["opcua"]["silenced"] == 1


def test_an_opcua_server_restart_is_flagged_on_every_device_which_then_comes_back(
    factory_southbound: SouthboundFactory,
) -> None:
    fault = {"at_s": 3.0, "kind": "restart", "duration_s": 1.0}
    scenario = {**OPCUA, "southbound": {**OPCUA["southbound"], "faults": [fault]}}
    south = factory_southbound(scenario=scenario)
    with Poller(south.hint_path, south.broker_url, poll_s=SLOW_POLL_S) as gateway:
        ids = gateway.device_ids
        wait_until_sync(
            lambda: all(gateway.reads[d, "failed"] > 0 for d in ids), "every device to fail", WAIT_S
        )
        good = {d: gateway.reads[d, "good"] for d in ids}
        wait_until_sync(
            lambda: all(gateway.reads[d, "good"] >= good[d] + 2 for d in ids),
            "every device to answer again",
            WAIT_S,
        )
        published = gateway.published
        wait_until_sync(
            lambda: south.received >= published, "the check to hear every message", WAIT_S
        )
    report = south.report().raw
    (found,) = report["gateway"]["faults"]
    assert (found["kind"], found["devices"], found["detected"]) == ("restart", 12, 12), found
    assert found["reactions"] == {"flagged": 12}, found
    assert report["southbound"]["opcua"]["restarts"] == 1
    assert report["gateway"]["values"]["wrong"] == 0
