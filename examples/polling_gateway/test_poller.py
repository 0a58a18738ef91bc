"""Testing a polling gateway end to end: simulated Modbus TCP devices south, a real broker north
(the faults over OPC UA too; the rest of OPC UA in test_poller_opcua.py).

``factory_southbound`` serves a fleet as Modbus TCP devices (ports the system picks, the hint
file written) and checks every value the gateway publishes on ``factory_broker`` against the
models' ground truth; ``report()`` stops both and returns the report. The gateway under test
is :class:`poller.Poller`, polling each device every 0.25 s.
"""

from __future__ import annotations

from typing import Any

import pytest
from poller import Poller

from simulator.pytest_plugin import SouthboundFactory
from tests.waiting import wait_until_sync

POLL_S = 0.25
WAIT_S = 30.0
"""Longest any wait may take; a healthy gateway needs about a second."""

FLEET: dict[str, Any] = {
    "seed": 9,
    "fleet": {
        "devices": 12,
        "publish_interval_s": 1.0,
        "mix": [{"model": "cnc-machine", "share": 0.5}, {"model": "power-meter", "share": 0.5}],
    },
    "southbound": {"port": 0, "devices_per_port": 5, "update_s": 0.5, "word_order": "little"},
    "gateway": {"topic": "plant/{device}/data", "quality": "quality", "max_staleness_ms": 1000},
}
"""Twelve devices (cnc machines, then power meters) on three endpoints, values changing twice
a second, 32-bit values low word first: the order a gateway most often gets wrong."""

POLLS = 6
"""Polls of every device a test waits for."""


def run_gateway(
    factory_southbound: SouthboundFactory, scenario: dict[str, Any] = FLEET, **options: Any
) -> dict[str, Any]:
    """Serve ``scenario``, poll it until every device was read well six times (a loaded
    machine may make a read late, which the gateway flags) with a :class:`Poller` given
    ``options``; return the report's ``gateway`` section."""
    south = factory_southbound(scenario=scenario)
    with Poller(south.hint_path, south.broker_url, poll_s=POLL_S, **options) as gateway:
        ids = gateway.device_ids
        wait_until_sync(
            lambda: all(gateway.reads[d, "good"] >= POLLS for d in ids),
            "six good reads of every device",
            WAIT_S,
        )
        published = gateway.published
        wait_until_sync(
            lambda: south.received >= published, "the check to hear every message", WAIT_S
        )
    return dict(south.report().raw["gateway"])


def test_a_correct_gateway_passes_with_every_device_and_no_wrong_value(
    factory_southbound: SouthboundFactory,
) -> None:
    gateway = run_gateway(factory_southbound)
    assert gateway["devices"] == {
        "expected": 12,
        "seen": 12,
        "missing": 0,
        "missing_examples": [],
        "unknown": 0,
        "unknown_examples": [],
    }
    tags = gateway["tags"]
    assert tags["missing"] == 0, tags
    assert tags["unknown"] == 0, tags
    values = gateway["values"]
    assert values["wrong"] == 0, values
    assert values["stale"] == 0, values
    assert values["correct"] >= POLLS * tags["expected"], values
    assert gateway["latency_ms"]["count"] > 0


@pytest.mark.parametrize(
    ("device", "signal"),
    [("pm-000006", "energy_kwh"), ("cnc-000001", "part_count")],
    ids=["float32", "uint32"],
)
def test_a_word_order_mistake_on_one_register_is_named_on_that_device_and_signal_only(
    factory_southbound: SouthboundFactory, device: str, signal: str
) -> None:
    gateway = run_gateway(factory_southbound, swap_words=[(device, signal)])
    assert_named_only(gateway, device, signal)


def assert_named_only(gateway: dict[str, Any], device: str, signal: str) -> None:
    """Every device seen, and wrong values named on ``device`` and ``signal`` only."""
    values = gateway["values"]
    assert list(values["wrong_tags"]) == [f"{device}/{signal}"], values
    assert values["wrong"] >= POLLS
    example = values["wrong_examples"][0]
    assert (example["device"], example["signal"]) == (device, signal)
    assert example["got"] != example["expected"]
    assert values["stale"] == 0
    assert gateway["devices"]["seen"] == 12


SLOW_POLL_S = 0.5
SILENT = "cnc-000003"
OPCUA: dict[str, Any] = {
    **FLEET,
    "southbound": {"protocol": "opcua", "update_s": 0.5, "opcua": {"port": 0}},
}
"""The same twelve devices on one OPC UA server, in a process of its own (the default; more
in test_poller_opcua.py)."""
OPCUA_SHARED: dict[str, Any] = {
    **OPCUA,
    "southbound": {**OPCUA["southbound"], "opcua": {"port": 0, "process": "shared"}},
}
"""The same server in the serving process's own loop."""
SOUTH = [FLEET, OPCUA, OPCUA_SHARED]
SOUTH_IDS = ["modbus", "opcua", "opcua-shared"]


def assert_served_where_asked(scenario: dict[str, Any], served: dict[str, Any]) -> None:
    """The OPC UA servers ran where the scenario asked, and did not die."""
    if "opcua" in scenario["southbound"].get("protocol", "modbus"):
        asked = scenario["southbound"]["opcua"].get("process", "own")
        assert (served["opcua"]["process"], served["opcua"]["died"]) == (asked, None)


def with_fault(scenario: dict[str, Any], fault: dict[str, Any], **gateway: Any) -> dict[str, Any]:
    """``scenario`` with one south-side fault and ``[gateway]`` keys changed."""
    return {
        **scenario,
        "southbound": {**scenario["southbound"], "faults": [fault]},
        "gateway": {**scenario["gateway"], **gateway},
    }


def through_a_fault(
    factory_southbound: SouthboundFactory,
    scenario: dict[str, Any],
    failing: list[str] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Serve ``scenario``, poll it every ``SLOW_POLL_S`` until each device of ``failing``
    (default: every one) has failed a read and then read well twice; the report."""
    south = factory_southbound(scenario=scenario)
    with Poller(south.hint_path, south.broker_url, poll_s=SLOW_POLL_S, **options) as gateway:
        ids = failing if failing is not None else gateway.device_ids
        wait_until_sync(
            lambda: all(gateway.reads[d, "failed"] > 0 for d in ids), "a failed read", WAIT_S
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
    return dict(south.report().raw)


@pytest.mark.parametrize("south", SOUTH, ids=SOUTH_IDS)
@pytest.mark.parametrize(
    ("flag_failures", "reaction", "staleness_ms"),
    [(True, "flagged", 1000), (False, "stopped", 800)],
    ids=["quality-flag", "data-stops"],
)
def test_a_device_that_falls_silent_shows_within_two_poll_intervals(
    factory_southbound: SouthboundFactory,
    south: dict[str, Any],
    flag_failures: bool,
    reaction: str,
    staleness_ms: int,
) -> None:
    """A gateway that flags what it cannot read (no Modbus answer, or an OPC UA value whose
    status is Bad) shows it at its next poll; one that just stops publishing shows it once no
    good value came for ``max_staleness_ms``, set below twice the poll interval."""
    fault = {"at_s": 3.0, "kind": "silent", "devices": [3], "duration_s": 1.5}
    scenario = with_fault(south, fault, max_staleness_ms=staleness_ms)
    report = through_a_fault(factory_southbound, scenario, [SILENT], flag_failures=flag_failures)
    (found,) = report["gateway"]["faults"]
    assert (found["kind"], found["devices"], found["detected"]) == ("silent", 1, 1), found
    assert found["reactions"] == {reaction: 1}, found
    assert found["detected_after_s"]["max"] <= 2 * SLOW_POLL_S, found
    values = report["gateway"]["values"]
    assert (values["flagged"] > 0) is flag_failures
    assert (values["wrong"], values["stale"]) == (0, 0), values
    assert_served_where_asked(scenario, report["southbound"])


@pytest.mark.parametrize("south", SOUTH, ids=SOUTH_IDS)
def test_a_server_restart_is_flagged_on_every_device_which_then_comes_back(
    factory_southbound: SouthboundFactory, south: dict[str, Any]
) -> None:
    fault = {"at_s": 3.0, "kind": "restart", "duration_s": 1.0}
    report = through_a_fault(factory_southbound, with_fault(south, fault))
    (found,) = report["gateway"]["faults"]
    assert (found["kind"], found["devices"], found["detected"]) == ("restart", 12, 12), found
    assert found["reactions"] == {"flagged": 12}, found
    served = report["southbound"]
    assert served.get("opcua", served)["restarts"] == 1
    assert report["gateway"]["values"]["wrong"] == 0
    assert_served_where_asked(south, served)
