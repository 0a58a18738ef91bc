"""The OPC UA servers in a process of their own (``[southbound.opcua] process = "own"``, the
default), as a user runs ``factory-sim southbound``: a real child process serves the nodes
(an asyncua client reads the model's ground truth there), its death ends a gateway check with
a report that says so and a failing exit code, and it never outlives its parent."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest

from simulator.broker import LocalBroker
from simulator.fleet import get_model
from simulator.southbound.samples import sample_at
from tests.gateway_reads import opcua_values
from tests.scenario_files import scenario_file
from tests.southbound_command import southbound
from tests.waiting import wait_until_sync

pytestmark = pytest.mark.sockets


def meters(tmp_path: Path) -> Path:
    """Four power meters served over OPC UA, by default in a process of their own."""
    return scenario_file(
        tmp_path,
        "opc-process",
        seed=4,
        duration_s=60,
        fleet={"devices": 4, "model": "power-meter", "publish_interval_s": 1.0},
        southbound={"protocol": "opcua", "update_s": 3600.0, "opcua": {"port": 0}},
        gateway={"topic": "north/{device}"},
    )


PROCESS_MODULE = "simulator.southbound.opcua_process"


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` and that run the OPC UA process module."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # ended meanwhile
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid and PROCESS_MODULE.encode() in command:
            found.append(int(entry.name))
    return found


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (not gone, not a zombie waiting to be reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_child_process_serves_the_nodes_with_the_ground_truth(tmp_path: Path) -> None:
    with southbound(meters(tmp_path)) as served:
        (child,) = children(served.proc.pid)
        assert child != served.proc.pid
        hint = served.hint
        checked = 0
        for device in hint["opcua"]["devices"]:
            nodes: dict[str, str] = device["nodes"]
            read = asyncio.run(opcua_values(device["url"], list(nodes.values())))
            values = [value.Value.Value for value in read]
            # update_s is an hour: step 0 unless the hour turned during the test.
            truth = sample_at(get_model("power-meter"), device["index"], 4, 0, 3600.0)
            assert values == [truth[signal] for signal in nodes], device["device_id"]
            checked += len(values)
        assert checked == 4 * len(get_model("power-meter").signals)
    assert served.returncode == 0, served.err
    assert not running(child)
    assert "Traceback" not in served.err


def test_a_killed_opcua_process_ends_the_check_with_a_report_that_says_so(
    tmp_path: Path, mosquitto: LocalBroker
) -> None:
    report_path = tmp_path / "report.json"
    options = ("--broker", mosquitto.url, "--report", str(report_path), "--duration", "120")
    with southbound(meters(tmp_path), *options) as served:
        (child,) = children(served.proc.pid)
        os.kill(child, signal.SIGKILL)
        # It stops by itself, long before its --duration.
        served.proc.wait(timeout=60)
    out, err = served.out, served.err
    assert served.returncode == 1, err
    assert "Traceback" not in err
    died = "the OPC UA server process killed by signal 9 (SIGKILL)"
    assert f"FAILED: {died}" in err, err
    assert f"{died}; stopping" in out, out
    report = json.loads(report_path.read_text())
    opcua = report["southbound"]["opcua"]
    assert (opcua["process"], opcua["died"]) == ("own", died)
    assert opcua["writes"] == 4 * len(get_model("power-meter").signals)  # its last counters
    assert report["gateway"]["devices"]["expected"] == 4


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["killed", "terminated"])
def test_the_opcua_process_never_outlives_its_parent(tmp_path: Path, how: signal.Signals) -> None:
    with southbound(meters(tmp_path)) as served:
        (child,) = children(served.proc.pid)
        served.proc.send_signal(how)
        served.proc.wait(timeout=60)
        wait_until_sync(lambda: not running(child), "the OPC UA process to end", 30.0)
    if how == signal.SIGTERM:
        assert served.returncode == 0, served.err
