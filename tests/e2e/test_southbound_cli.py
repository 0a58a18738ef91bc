"""``factory-sim southbound`` as a user runs it: it says where it listens, writes the gateway
hint, answers pymodbus with the model's ground truth, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from simulator.fleet import get_model
from simulator.southbound.fleet_values import sample_at, step_at
from simulator.southbound.register_map import RegisterEncoder, register_map
from tests.gateway_reads import holding_registers
from tests.scenario_files import halves, scenario_file
from tests.southbound_command import southbound

pytestmark = pytest.mark.sockets


def test_the_command_serves_the_fleet_until_sigterm(tmp_path: Path) -> None:
    scenario = scenario_file(
        tmp_path,
        "plant-south",
        seed=5,
        duration_s=60,
        fleet={
            "devices": 12,
            "publish_interval_s": 1.0,
            "mix": halves("plc-line", "moulding-machine"),
        },
        southbound={"port": 0, "devices_per_port": 5, "update_s": 3600.0, "word_order": "little"},
    )
    with southbound(scenario) as served:
        lines = served.lines
        listening = [line for line in lines if line.startswith("modbus tcp 127.0.0.1:")]
        assert len(listening) == 3, lines  # 12 devices, 5 per port

        hint = served.hint
        assert (hint["protocol"], hint["word_order"], hint["seed"]) == ("modbus-tcp", "little", 5)
        devices = hint["devices"]
        assert [d["unit_id"] for d in devices] == [1, 2, 3, 4, 5] * 2 + [1, 2]
        assert {d["model"] for d in devices} == {"plc-line", "moulding-machine"}
        assert hint["register_maps"]["plc-line"] == json.loads(
            json.dumps(register_map(get_model("plc-line")).to_json())
        )
        device = devices[8]  # a moulding machine: unit 4 of the second port
        assert f":{device['port']}: devices 5..9" in listening[1]

        model = get_model(device["model"])
        size = register_map(model).size
        registers = asyncio.run(
            holding_registers(device["host"], device["port"], device["unit_id"], size)
        )
        step = step_at(time.time() - hint["epoch_unix_s"], device["update_s"])
        truth = sample_at(model, device["index"], 5, step, device["update_s"])
        encoded = RegisterEncoder(register_map(model), "little").encode(truth)
        assert registers == [
            int.from_bytes(encoded[i : i + 2], "big") for i in range(0, len(encoded), 2)
        ]
    assert served.returncode == 0, served.err
    assert "1 reads" in served.err
    assert "Traceback" not in served.err
