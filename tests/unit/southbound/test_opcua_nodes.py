"""OPC UA's pure parts: ``[southbound.opcua]`` checked strictly, servers placed on hosts and
ports, devices split into blocks, and node maps derived from every model's signals."""

from __future__ import annotations

import math
import sys
import time

import pytest

from simulator.errors import ScenarioError
from simulator.fleet import get_model, model_names
from simulator.southbound.node_map import (
    UNECE_CODES,
    NodeType,
    node_id,
    node_map,
    unece_unit_id,
)
from simulator.southbound.opcua_fleet import device_ranges
from simulator.southbound.service import opcua_fleet
from tests.unit.southbound.southbound_scenario import scenario


def test_servers_take_each_address_then_the_next_port() -> None:
    settings = scenario(
        protocol="opcua", hosts=["127.0.0.1", "127.0.0.2"], opcua={"port": 4840, "servers": 3}
    ).southbound
    assert settings.opcua.endpoints(settings.hosts) == [
        ("127.0.0.1", 4840),
        ("127.0.0.2", 4840),
        ("127.0.0.1", 4841),
    ]
    picked = scenario(opcua={"port": 0, "servers": 2}).southbound
    assert picked.opcua.endpoints(picked.hosts) == [("127.0.0.1", 0)] * 2
    assert scenario(protocol="modbus+opcua").southbound.opcua.namespace == "urn:factory-sim:devices"


def test_bad_opcua_settings_are_named_with_their_key() -> None:
    with pytest.raises(ScenarioError) as caught:
        scenario(protocol="opc", opcua={"servers": 0, "port": 70000, "colour": "red"})
    found = sorted(f"{p.path}: {p.message}" for p in caught.value.problems)
    assert [line.split(":")[0] for line in found] == [
        "southbound.opcua.colour",
        "southbound.opcua.port",
        "southbound.opcua.servers",
        "southbound.protocol",
    ]
    assert "'modbus', 'opcua' or 'modbus+opcua'" in found[3]
    with pytest.raises(ScenarioError, match="3 servers from port 65534 go beyond 65535"):
        scenario(opcua={"servers": 3, "port": 65534})


def test_devices_are_split_into_consecutive_blocks() -> None:
    assert device_ranges(7, 2) == [range(0, 4), range(4, 7)]
    assert device_ranges(10, 1) == [range(10)]
    assert device_ranges(3, 5) == [range(0, 1), range(1, 2), range(2, 3)]
    ranges = device_ranges(20_000, 7)
    assert [i for r in ranges for i in r] == list(range(20_000))


def test_unit_ids_are_the_codes_bytes() -> None:
    # OPC UA Part 8's example: degree Celsius, "CEL", is 4408652.
    assert unece_unit_id("CEL") == 4408652
    assert unece_unit_id("59") == ord("5") << 8 | ord("9")


@pytest.mark.parametrize("name", model_names())
def test_every_signal_of_every_model_has_a_typed_node(name: str) -> None:
    model = get_model(name)
    fields = node_map(model).fields
    assert [f.signal for f in fields] == list(model.signals)
    sample = model.sample(model.new_state(3, 1), 0, 0.0)
    for field in fields:
        signal = model.signals[field.signal]
        value = sample[field.signal]
        if signal.choices:
            assert (field.type, field.choices) == (NodeType.STRING, signal.choices)
        else:
            assert field.type is (NodeType.INT64 if type(value) is int else NodeType.DOUBLE)
            assert field.unit == signal.unit
            bounded = math.isfinite(signal.low) and math.isfinite(signal.high)
            assert (field.low, field.high) == (
                (signal.low, signal.high) if bounded else (None, None)
            )
        # Every unit the models use with a UNECE code has it; counts ("parts") have none.
        assert field.unece == UNECE_CODES.get(field.unit, ("", ""))[0]
        assert field.description.startswith(field.signal)
    assert node_id("cnc-000001", "state") == "cnc-000001.state"


def test_the_maps_json_names_types_units_and_ranges() -> None:
    rows = node_map(get_model("machine-sensor")).to_json()
    by_signal = {row["signal"]: row for row in rows}
    assert by_signal["temperature_c"]["type"] == "Double"
    assert by_signal["temperature_c"]["unece"] == "CEL"
    assert by_signal["state"]["type"] == "String"
    assert "choices" in by_signal["state"]


def test_without_asyncua_the_scenario_problem_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # None in sys.modules makes the import fail as a missing package does.
    monkeypatch.setitem(sys.modules, "simulator.southbound.opcua_fleet", None)
    with pytest.raises(ScenarioError) as caught:
        opcua_fleet(scenario(protocol="opcua"), time.time, 0.0)
    (problem,) = caught.value.problems
    assert problem.path == "southbound.protocol"
    assert "opcua needs the asyncua package" in problem.message
    assert "pip install 'factory-fleet-simulator[opcua]'" in problem.message
