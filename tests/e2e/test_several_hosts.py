"""One run from several hosts: network namespaces stand in for the hosts (:mod:`tests.netns`).

Three slices of one fleet run in three namespaces, each with an address that exists only
there, against a real Mosquitto listening on this namespace's address on their switch, with
the platform side (ingest and the provisioning responder) run once beside the broker
(``--ingest-only``); all start at one ``--start-at``. Their merged report must say what the
same fleet run in one process says: the same devices, connections, registrations, messages
published and ingested, and nothing lost.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from simulator.broker import LocalBroker
from tests import netns
from tests.processes import Processes
from tests.quickstart import quickstart_without_thresholds

pytestmark = [pytest.mark.broker, pytest.mark.slow]

SLICES = 3
DEVICES = 90
MESSAGES_PER_DEVICE = 4
"""Each device sends exactly this many: a run's count is then exact, whatever its timing."""
FLEET = ("--devices", str(DEVICES), "--duration", "30", "--qos", "1")
LEAD_S = 8
"""How far ahead the start is set: time for every process to start and subscribe first."""


@pytest.fixture
def lan() -> Iterator[netns.Lan]:
    missing = netns.available()
    if missing is not None:  # a tool the suite needs: fail, never skip (scripts/setup has it)
        pytest.fail(f"{missing}: run the tests as root with iproute2 installed", pytrace=False)
    before = netns.namespaces()
    with netns.lan(SLICES) as network:
        yield network
    # Nothing of it is left: no namespace, no link of ours here.
    assert netns.namespaces() == before
    assert network.local_link not in netns.links()


@pytest.fixture
def broker(lan: netns.Lan) -> Iterator[LocalBroker]:
    """Mosquitto from broker_config/, listening only on this namespace's address on the LAN."""
    with LocalBroker(host=lan.local_address) as mosquitto:
        yield mosquitto


def simulator(*args: str) -> list[str]:
    return [sys.executable, "-m", "simulator", *args]


def test_slices_on_three_hosts_add_up_to_the_fleet_in_one_process(
    lan: netns.Lan, broker: LocalBroker, tmp_path: Path
) -> None:
    scenario = str(counted(quickstart_without_thresholds(tmp_path)))
    url = broker.url
    start_at = (datetime.now(UTC) + timedelta(seconds=LEAD_S)).strftime("%Y-%m-%dT%H:%M:%SZ")
    run = ("--run-id", "hosts-sliced", "--start-at", start_at, "--broker", url)
    reports = tmp_path / "reports"
    merged_path, whole_path = tmp_path / "merged.json", tmp_path / "whole.json"
    with Processes(tmp_path) as processes:
        processes.start(
            "ingest",
            simulator(
                *("run", scenario, *FLEET, *run, "--ingest-only", "--idle-stop", "5"),
                *("--report", str(reports / "ingest.json")),
            ),
            "ingest",
        )
        # Listening before any slice publishes, even when a loaded machine starts it late.
        processes.wait_for_output("ingest", "the start at")
        for index, host in enumerate(lan.hosts):
            processes.start(
                f"slice {index} on {host.address}",
                host.command(
                    simulator(
                        *("run", scenario, *FLEET, *run, "--segment", f"{index}/{SLICES}"),
                        *("--report", str(reports / f"slice-{index}.json")),
                    )
                ),
                f"host{index}",
            )
        processes.finish()
        sent = [host.bytes_sent() for host in lan.hosts]
        processes.start(
            "merge",
            simulator(
                "merge",
                *(str(reports / f"slice-{i}.json") for i in range(SLICES)),
                *(str(reports / "ingest.json"), "--report", str(merged_path)),
            ),
            ".",
        )
        processes.finish()
        processes.start(
            "one process",
            simulator(
                *("run", scenario, *FLEET, "--run-id", "hosts-whole", "--broker", url),
                *("--report", str(whole_path)),
            ),
            "whole",
        )
        processes.finish()
    merged, whole = json.loads(merged_path.read_text()), json.loads(whole_path.read_text())

    # Each slice's traffic left from its own host: its connects, registrations and messages.
    slices = [json.loads((reports / f"slice-{i}.json").read_text()) for i in range(SLICES)]
    for host, report, sent_bytes in zip(lan.hosts, slices, sent, strict=True):
        assert report["devices"]["connected"] == DEVICES // SLICES
        assert sent_bytes > report["messages"]["published"] * 20, host
    assert merged["run"]["missing_segments"] == []
    assert len(merged["run"]["segments"]) == SLICES + 1
    assert merged["run"]["start_spread_s"] is not None

    assert figures(merged) == figures(whole)
    assert merged["messages"]["published"] == DEVICES * MESSAGES_PER_DEVICE
    assert merged["messages"]["lost"] == whole["messages"]["lost"] == 0


def counted(scenario: Path) -> Path:
    """The scenario with every device sending exactly :data:`MESSAGES_PER_DEVICE` messages."""
    text = scenario.read_text()
    assert text.count("\n[fleet]\n") == 1
    scenario.write_text(
        text.replace("\n[fleet]\n", f"\n[fleet]\nmessages_per_device = {MESSAGES_PER_DEVICE}\n")
    )
    return scenario


def figures(report: dict[str, Any]) -> dict[str, Any]:
    """The totals a sliced run must share with the one-process run of its fleet."""
    funnel = report["onboarding"]["funnel"]
    return {
        "devices": {k: report["devices"][k] for k in ("target", "connected", "failed")},
        "messages": {
            k: report["messages"][k]
            for k in ("published", "ingested", "received", "duplicated", "out_of_order")
        },
        "funnel": {stage: figures["reached"] for stage, figures in funnel.items()},
        "deaths": report["onboarding"].get("deaths"),
        "rows": report["sink"]["rows"],
    }


def test_the_lan_is_taken_down_when_the_test_in_it_fails() -> None:
    before, links_before = netns.namespaces(), netns.links()
    made: list[set[str]] = []

    def failing_test() -> None:
        with netns.lan(2) as network:
            made.append({host.namespace for host in network.hosts} | {network.switch})
            assert made[0] <= netns.namespaces()
            raise RuntimeError("a test failed")

    with pytest.raises(RuntimeError, match="a test failed"):
        failing_test()
    assert len(made[0]) == 3
    assert netns.namespaces() == before
    assert netns.links() == links_before
