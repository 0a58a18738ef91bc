"""``factory-sim southbound`` with ``protocol = "opcua"`` as a user runs it: it says where its
servers listen, writes a hint that lists every node, answers asyncua's client at those nodes
with the model's ground truth, and stops cleanly on SIGTERM; with ``"modbus+opcua"`` a device's
registers and nodes show the same sample."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from simulator.fleet import get_model
from simulator.southbound.node_map import node_map
from simulator.southbound.register_map import RegisterType, register_map
from simulator.southbound.samples import sample_at
from tests.gateway_reads import field_number, holding_registers, opcua_values
from tests.scenario_files import halves, scenario_file
from tests.southbound_command import southbound

pytestmark = pytest.mark.sockets


def plant(tmp_path: Path, protocol: str = "opcua", **south: Any) -> Path:
    """Seven devices of two models on two OPC UA servers, served over ``protocol`` with the
    other ``[southbound]`` keys in ``south``."""
    return scenario_file(
        tmp_path,
        "plant-opc",
        seed=5,
        duration_s=60,
        fleet={
            "devices": 7,
            "publish_interval_s": 1.0,
            "mix": halves("plc-line", "vibration-sensor"),
        },
        southbound={
            "protocol": protocol,
            "update_s": 3600.0,
            **south,
            "opcua": {"port": 0, "servers": 2, "namespace": "urn:plant:opc"},
        },
    )


def test_the_command_serves_the_fleet_over_opcua_until_sigterm(tmp_path: Path) -> None:
    with southbound(plant(tmp_path)) as served:
        lines = served.lines
        listening = [line for line in lines if line.startswith("opc ua opc.tcp://127.0.0.1:")]
        assert len(listening) == 2, lines  # 7 devices on 2 servers: 4 and 3
        assert not [line for line in lines if line.startswith("modbus")], lines

        hint = served.hint
        assert (hint["protocol"], hint["seed"]) == ("opcua", 5)
        assert "register_maps" not in hint
        opcua: dict[str, Any] = hint["opcua"]
        assert (opcua["namespace"], opcua["namespace_index"]) == ("urn:plant:opc", 2)
        assert [s["devices"] for s in opcua["servers"]] == [[0, 3], [4, 6]]
        assert f"{opcua['servers'][0]['url']}: devices 0..3" in listening[0]
        assert opcua["node_maps"]["plc-line"] == json.loads(
            json.dumps(node_map(get_model("plc-line")).to_json())
        )
        devices = opcua["devices"]
        assert [d["index"] for d in devices] == list(range(7))
        assert [d["server"] for d in devices] == [0, 0, 0, 0, 1, 1, 1]

        checked = 0
        for device in devices:
            model = get_model(device["model"])
            nodes: dict[str, str] = device["nodes"]
            assert list(nodes) == list(model.signals)
            assert nodes["state"] == f"ns=2;s={device['device_id']}.state"
            values = asyncio.run(opcua_values(device["url"], list(nodes.values())))
            # update_s is an hour: the step is 0 unless the hour turned during the test.
            step = round((values[0].SourceTimestamp.timestamp() - hint["epoch_unix_s"]) / 3600)
            truth = sample_at(model, device["index"], 5, step, device["update_s"])
            for signal_name, value in zip(nodes, values, strict=True):
                assert value.Value.Value == truth[signal_name], (device, signal_name)
                checked += 1
        assert checked == sum(len(get_model(d["model"]).signals) for d in devices)
        # Each server counts what its updater wrote: every tag of its devices, once so far.
        assert opcua["counters"]["writes"] == "ns=2;s=simulator.writes"
        written = [
            asyncio.run(opcua_values(server["url"], [opcua["counters"]["writes"]]))[0].Value.Value
            for server in opcua["servers"]
        ]
        assert sum(written) == checked
    assert served.returncode == 0, served.err
    assert "values written" in served.out.splitlines()[-1], served.out
    assert "Traceback" not in served.err
    assert "policy" not in served.err  # asyncua's warnings about running without security


def test_modbus_and_opcua_at_once_show_the_same_sample(tmp_path: Path) -> None:
    """One epoch, one ground truth: every device's registers, decoded as its register map says,
    are its OPC UA values put through the same map (scaled, rounded, coded)."""
    with southbound(plant(tmp_path, "modbus+opcua", port=0)) as served:
        hint = served.hint
        assert hint["protocol"] == "modbus-tcp+opcua"
        assert any(line.startswith("modbus tcp 127.0.0.1:") for line in served.lines)
        by_index = {d["index"]: d for d in hint["opcua"]["devices"]}
        compared = 0
        for device in hint["devices"]:
            fields = register_map(get_model(device["model"])).fields
            words = asyncio.run(
                holding_registers(
                    device["host"], device["port"], device["unit_id"], sum(f.count for f in fields)
                )
            )
            node = by_index[device["index"]]
            values = asyncio.run(
                opcua_values(node["url"], [node["nodes"][f.signal] for f in fields])
            )
            for field, value in zip(fields, values, strict=True):
                number = field_number(words, field)
                shown = value.Value.Value
                if field.type is RegisterType.FLOAT32:
                    assert field.value(number) == pytest.approx(shown, rel=1e-6), field
                else:
                    assert field.value(number) == field.value(field.raw(shown)), field
                compared += 1
        assert compared == sum(len(get_model(d["model"]).signals) for d in hint["devices"])
    assert served.returncode == 0, served.err


def test_modbus_devices_splits_the_fleet_between_the_two_protocols(tmp_path: Path) -> None:
    """The first ``modbus_devices`` answer over Modbus TCP only, the others over OPC UA only,
    and the hint lists each device once, where it answers."""
    with southbound(plant(tmp_path, "modbus+opcua", modbus_devices=3, port=0)) as served:
        hint = served.hint
        assert [d["index"] for d in hint["devices"]] == [0, 1, 2]
        assert [d["index"] for d in hint["opcua"]["devices"]] == [3, 4, 5, 6]
        assert [s["devices"] for s in hint["opcua"]["servers"]] == [[3, 4], [5, 6]]
        first = hint["opcua"]["devices"][0]
        model = get_model(first["model"])
        signal = node_map(model).fields[0].signal
        (value,) = asyncio.run(opcua_values(first["url"], [first["nodes"][signal]]))
        assert value.Value.Value == sample_at(model, 3, 5, 0, 3600.0)[signal]
        device = hint["devices"][-1]
        assert device["unit_id"] == 3
        size = register_map(get_model(device["model"])).size
        assert len(asyncio.run(holding_registers(device["host"], device["port"], 3, size))) == size
    assert served.returncode == 0, served.err
