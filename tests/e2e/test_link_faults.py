"""``network``, ``partition`` and ``slow_sink`` faults through ``factory-sim run``: for the
first two the run puts its relay between the fleet and the Mosquitto it starts, and the fault
acts there; the third slows the ingest worker's commits.

- 200 ms of added latency for the whole run: the relay holds every chunk at least that long,
  so the median end-to-end latency is at least 200 ms (a lower bound the relay guarantees,
  not a wall-clock measurement that could be flaky), and nothing is lost.
- A partition of 6 s with a keepalive of 2 s: the devices, pinging every second (they publish
  less often than that), find the broker silent for 1.5 keepalives (3 s, seen within a ping
  interval) and drop their connections, which come back once the partition is over; at QoS 1
  on kept sessions nothing is lost. (Mosquitto 2.0 looks for silent clients only every 5 s
  or so, so on its side the drop is not certain within 6 s.)
- The partition at QoS 0 without kept sessions: what waited in it is lost, and the fault's
  window and the run both count it.
- A sink 500 ms slower per batch for 3 s: a backlog builds (the worker stops reading, the
  broker queues), latency rises, and it all drains afterwards: nothing lost.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.commands import run_reported, simulator

pytestmark = pytest.mark.broker

FLEET = """\
name = "{name}"
duration_s = {duration_s}
seed = 3

[broker]
clean_start = false
session_expiry_s = 300
keepalive_s = 2

[onboarding]
reconnect_min_s = 0.2
reconnect_max_s = 1.0
connect_timeout_s = 3.0

[ingest]
sqlite_path = "rows.sqlite"
batch_size = {batch_size}

[fleet]
devices = 40
qos = 1
publish_interval_s = {interval_s}
"""


def scenario(name: str, duration_s: float, interval_s: float, batch_size: int = 1000) -> str:
    return FLEET.format(
        name=name, duration_s=duration_s, interval_s=interval_s, batch_size=batch_size
    )


def run(tmp_path: Path, name: str, text: str) -> tuple[dict[str, Any], str]:
    """Run ``text`` as ``name``.toml; the report and what the run said."""
    scenario = tmp_path / f"{name}.toml"
    scenario.write_text(text)
    done, report = run_reported("run", str(scenario), cwd=tmp_path)
    return report, done.stdout + done.stderr


def test_added_latency_holds_every_message_that_long_and_loses_nothing(tmp_path: Path) -> None:
    report, said = run(
        tmp_path,
        "latency",
        scenario("latency", 4.0, 0.25)
        + '[[faults]]\nkind = "network"\nat_s = 0\nduration_s = 600\nlatency_ms = 200\n',
    )
    assert "the fleet connects through a relay on 127.0.0.1:" in said
    assert re.search(r"fault: network begins at [\d.]+ s: \+200 ms for 600 s", said), said
    (fault,) = report["faults"]
    assert fault["kind"] == "network"
    assert fault["detail"] == "+200 ms for 600 s"
    assert fault["error"] is None
    messages = report["messages"]
    assert messages["published"] > 0
    assert messages["lost"] == 0
    assert messages["ingested"] == messages["published"]
    assert report["latency_ms"]["p50"] >= 200


def test_a_partition_past_the_keepalive_drops_connections_that_come_back_losing_nothing(
    tmp_path: Path,
) -> None:
    report, said = run(
        tmp_path,
        "partition",
        scenario("partition", 12.0, 1.5)
        + '[[faults]]\nkind = "partition"\nat_s = 2\nduration_s = 6\n',
    )
    assert re.search(r"fault: partition begins at [\d.]+ s: nothing passed either way", said)
    (fault,) = report["faults"]
    assert fault["kind"] == "partition"
    assert fault["error"] is None
    # Keepalives expired inside the partition: devices dropped, then all came back.
    assert fault["devices_before"] == 40
    assert fault["devices_lost"] > 0
    assert fault["back_s"] is not None
    assert fault["back_s"] >= 3.0
    assert report["connections"]["reconnects"] > 0
    messages = report["messages"]
    assert messages["lost"] == 0
    assert messages["ingested"] == messages["published"]
    # What waited in the partition arrived late, and the window says so.
    assert fault["latency_ms_p99_peak"] >= 1000


def test_a_slow_sink_builds_a_backlog_that_drains_and_loses_nothing(tmp_path: Path) -> None:
    # Batches of 10 at 160 msg/s: 16 commits a second wanted, 2 possible while each waits
    # 500 ms, so messages queue in the broker (the worker stops reading) until the window ends.
    report, said = run(
        tmp_path,
        "slow",
        scenario("slow", 8.0, 0.25, batch_size=10)
        + '[[faults]]\nkind = "slow_sink"\nat_s = 2\nduration_s = 3\ndelay_ms = 500\n',
    )
    assert re.search(r"fault: slow_sink begins at [\d.]+ s: each batch's commit 500 ms later", said)
    (fault,) = report["faults"]
    assert fault["error"] is None
    assert fault["devices_lost"] == 0
    assert fault["backlog_peak"] >= 100
    assert fault["latency_ms_p99_peak"] >= 1000
    messages = report["messages"]
    assert messages["lost"] == 0
    assert messages["ingested"] == messages["published"]


def test_at_qos_0_what_a_partition_drops_is_counted_lost_in_its_window_and_the_run(
    tmp_path: Path,
) -> None:
    """The same partition at QoS 0 without kept sessions: what waited in it when the
    connections dropped is gone for good, and the fault's window and the run both count it."""
    text = scenario("partition0", 12.0, 1.5).replace("qos = 1", "qos = 0")
    text = text.replace("clean_start = false", "clean_start = true")
    scenario_path = tmp_path / "partition0.toml"
    scenario_path.write_text(text + '[[faults]]\nkind = "partition"\nat_s = 2\nduration_s = 6\n')
    done = simulator("run", str(scenario_path), "--report", "report.json", cwd=tmp_path)
    report = json.loads((tmp_path / "report.json").read_text())
    (fault,) = report["faults"]
    assert fault["qos"] == 0
    assert fault["devices_lost"] > 0
    messages = report["messages"]
    assert messages["lost"] > 0
    assert messages["published"] == messages["ingested"] + messages["lost"]
    assert 0 < fault["lost"] <= messages["lost"]
    said = done.stdout + done.stderr
    assert "at QoS 0: " in said
    assert done.returncode == 1, said  # lost messages fail the run, and it says how many
    assert f"FAILED: {messages['lost']:,} of {messages['published']:,} messages were lost" in said
