"""``factory-sim southbound`` with ``protocol = "opcua"`` as a user runs it: it says where its
servers listen, writes a hint that lists every node, answers asyncua's client at those nodes
with the model's ground truth, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from asyncua import Client, ua

from simulator.fleet import get_model
from simulator.southbound.node_map import node_map
from simulator.southbound.samples import sample_at
from tests.commands import CHILD_ENV

pytestmark = pytest.mark.sockets

SCENARIO = """\
name = "plant-opc"
seed = 5
duration_s = 60
[fleet]
devices = 7
publish_interval_s = 1.0
[[fleet.mix]]
model = "plc-line"
share = 0.5
[[fleet.mix]]
model = "vibration-sensor"
share = 0.5
[southbound]
protocol = "opcua"
update_s = 3600.0
[southbound.opcua]
port = 0
servers = 2
namespace = "urn:plant:opc"
"""


async def read(url: str, node_ids: list[str]) -> list[ua.DataValue]:
    """The values of ``node_ids`` in one Read request, as a gateway polls."""
    async with Client(url, timeout=10) as client:
        return list(await client.read_attributes([client.get_node(n) for n in node_ids]))


def test_the_command_serves_the_fleet_over_opcua_until_sigterm(tmp_path: Path) -> None:
    scenario = tmp_path / "plant-opc.toml"
    scenario.write_text(SCENARIO)
    hint_path = tmp_path / "gateway.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", "southbound", str(scenario), "--hint", str(hint_path)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=CHILD_ENV,
    )
    try:
        assert proc.stdout is not None
        lines = []
        deadline = time.monotonic() + 60
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("gateway hint written"):
                break
            assert time.monotonic() < deadline, lines
        listening = [line for line in lines if line.startswith("opc ua opc.tcp://127.0.0.1:")]
        assert len(listening) == 2, lines  # 7 devices on 2 servers: 4 and 3
        assert not [line for line in lines if line.startswith("modbus")], lines

        hint = json.loads(hint_path.read_text())
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
            values = asyncio.run(read(device["url"], list(nodes.values())))
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
            asyncio.run(read(server["url"], [opcua["counters"]["writes"]]))[0].Value.Value
            for server in opcua["servers"]
        ]
        assert sum(written) == checked

        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "values written" in out.splitlines()[-1], out
    assert "Traceback" not in err
    assert "policy" not in err  # asyncua's warnings about running without security are quiet
