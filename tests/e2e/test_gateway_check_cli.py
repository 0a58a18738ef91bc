"""``factory-sim southbound SCENARIO --broker URL`` as a user runs it: serve the south, check
the north, one report; a threshold over the report's gateway section decides the exit code.

The "gateway" here publishes, over and over until the command ends, one message: a value for
one real device that is wrong, and a value for a device the fleet does not have."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from simulator.broker import LocalBroker
from tests.commands import CHILD_ENV
from tests.scenario_files import scenario_file

pytestmark = pytest.mark.broker


def test_the_report_names_the_wrong_value_and_the_threshold_fails_the_command(
    tmp_path: Path, mosquitto: LocalBroker
) -> None:
    scenario = scenario_file(
        tmp_path,
        "gateway-check",
        seed=3,
        duration_s=60,
        fleet={"devices": 6, "model": "power-meter", "publish_interval_s": 1.0},
        southbound={"port": 0, "devices_per_port": 3},
        gateway={"topic": "north/{device}", "max_staleness_ms": 1500},
        thresholds={"gateway.values.wrong": "== 0"},
    )
    report_path = tmp_path / "out.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulator",
            "southbound",
            str(scenario),
            "--broker",
            mosquitto.url,
            "--duration",
            "3",
            "--report",
            str(report_path),
            "--hint",
            str(tmp_path / "hint.json"),
            "--threshold",
            "gateway.devices.seen >= 1",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=CHILD_ENV,
    )
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="a-gateway")
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("checking "):
                break
        assert lines[-1] == f"checking 'north/+' on {mosquitto.url}\n", lines
        client.connect(mosquitto.host, mosquitto.port)
        client.loop_start()
        deadline = time.monotonic() + 60
        while proc.poll() is None:
            assert time.monotonic() < deadline, "the command did not end"
            client.publish("north/pm-000004", json.dumps({"values": {"power_factor": 7.5}}))
            client.publish("north/pm-999999", json.dumps({"values": {"state": "idle"}}))
            time.sleep(0.05)  # a gateway's pace, not a wait for anything
        _, err = proc.communicate(timeout=60)
    finally:
        client.loop_stop()
        client.disconnect()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 4, err
    assert "threshold gateway.values.wrong == 0: FAILED" in err
    assert "threshold gateway.devices.seen >= 1: passed (got 1)" in err
    report = json.loads(report_path.read_text())
    gateway = report["gateway"]
    assert gateway["devices"]["seen"] == 1
    assert gateway["devices"]["missing"] == 5
    assert gateway["devices"]["unknown_examples"] == ["pm-999999"]
    assert gateway["values"]["correct"] == 0
    assert list(gateway["values"]["wrong_tags"]) == ["pm-000004/power_factor"]
    example = gateway["values"]["wrong_examples"][0]
    assert (example["device"], example["signal"], example["got"]) == (
        "pm-000004",
        "power_factor",
        7.5,
    )
    assert 0 <= example["expected"] <= 1
    assert [t["passed"] for t in report["thresholds"]] == [False, True]
    assert report["settings"]["gateway"]["topic"] == "north/{device}"
    assert report["settings"]["southbound"]["devices_per_port"] == 3
    hint = json.loads((tmp_path / "hint.json").read_text())
    assert report["epoch_unix_s"] == hint["epoch_unix_s"]
