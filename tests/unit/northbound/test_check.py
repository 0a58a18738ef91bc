"""The check's figures from messages fed by hand at chosen arrival times: devices and tags
seen and missing, wrong values named by device and signal, latency from the change, gaps, and
how soon each south-side fault showed in the gateway's output."""

from __future__ import annotations

import json
from typing import Any

from simulator.fleet import PlantLayout
from simulator.northbound.check import GatewayCheck
from simulator.northbound.service import summary_lines
from simulator.northbound.truth import GroundTruth, RegisterValues
from simulator.report.json_report import get_path
from simulator.report.thresholds import numeric_keys
from simulator.scenario.composition import Group
from simulator.scenario.gateway import GatewaySettings
from simulator.southbound.faults import Fault, FaultPlan
from simulator.southbound.fleet_values import ServedFleet

SETTINGS = GatewaySettings(topic="plant/{device}/data", quality="quality", max_staleness_ms=1000)


def check(*faults: Fault) -> GatewayCheck:
    fleet = ServedFleet(
        (Group("cnc-machine", "json", 1.0, 0, 2), Group("power-meter", "json", 1.0, 2, 1)),
        PlantLayout(1, 1),
        seed=9,
        devices_per_endpoint=3,
    )
    truth = GroundTruth(RegisterValues(fleet), max_staleness_s=1.0, lookback_s=30.0)
    return GatewayCheck(truth, SETTINGS, FaultPlan(faults), started_s=0.0)


def publish(
    c: GatewayCheck, index: int, t_s: float, *, read_at: float | None = None, **changes: Any
) -> None:
    """Device ``index``'s message as a correct gateway that read at ``read_at`` publishes it."""
    truth = c.truth
    device = truth.device_id(index)
    numbers = truth.numbers_at(index, t_s if read_at is None else read_at)
    values: dict[str, Any] = {
        signal: truth.expected(index, position, number)
        for position, (signal, number) in enumerate(zip(truth.signals(index), numbers, strict=True))
    }
    quality = changes.pop("quality", "good")
    values.update(changes)
    payload = json.dumps({"quality": quality, "values": values}).encode()
    c.on_message(f"plant/{device}/data", payload, t_s)


def test_a_correct_gateway_has_every_value_correct_and_names_the_missing_device() -> None:
    c = check()
    for second in range(5, 10):
        publish(c, 0, second + 0.1)
        publish(c, 2, second + 0.2)
    found = c.section(10.0)
    assert found["devices"]["seen"] == 2
    assert found["devices"]["missing_examples"] == ["cnc-000001"]
    assert found["tags"]["expected"] == 11 + 11 + 12
    assert found["tags"]["missing"] == 11
    values = found["values"]
    assert values["wrong"] == values["stale"] == 0
    assert values["correct"] == values["checked"] == 5 * (11 + 12)
    assert found["latency_ms"]["count"] > 0
    assert found["latency_ms"]["max"] is not None
    assert found["latency_ms"]["max"] == 200.0  # changes at whole seconds, heard at .1 and .2
    assert found["gaps"]["max_ms"] == 1000.0
    assert found["gaps"]["devices_over_staleness"] == 0


def test_no_latency_is_taken_from_a_devices_first_values_after_flagged_messages() -> None:
    """A gateway whose first reads failed: its first good values show changes made before it
    could read them, which say nothing of how late it is."""
    c = check()
    for second in range(5, 28):
        publish(c, 1, second + 0.1, quality="bad")
    for second in range(28, 31):  # its spindle speed took its value of step 28 at step 27
        publish(c, 1, second + 0.1)
    found = c.section(31.0)
    assert found["values"]["flagged"] == 23 * 11
    assert found["latency_ms"]["count"] > 0
    assert found["latency_ms"]["max"] == 100.0


def test_a_wrong_value_is_named_by_device_and_signal_and_an_unknown_one_counted() -> None:
    c = check()
    publish(c, 2, 5.1, energy_kwh=-1.0)
    publish(c, 0, 5.2, no_such_signal=1)
    c.on_message("plant/cnc-999999/data", b'{"values": {"state": "idle"}}', 5.3)
    c.on_message("plant/cnc-000000/data", b"not json", 5.4)
    found = c.section(6.0)
    values = found["values"]
    assert values["wrong"] == 1
    assert values["wrong_tags"] == {"pm-000002/energy_kwh": 1}
    (example,) = values["wrong_examples"]
    assert (example["device"], example["signal"], example["got"]) == (
        "pm-000002",
        "energy_kwh",
        -1.0,
    )
    assert example["expected"] == c.truth.expected(2, 11, c.truth.numbers_at(2, 5.1)[11])
    assert found["tags"]["unknown_examples"] == ["cnc-000000/no_such_signal"]
    assert found["devices"]["unknown_examples"] == ["cnc-999999"]
    assert found["messages"] == {
        "received": 4,
        "retained": 0,
        "unparsed": 1,
        "readings": 11 + 12 + 1 + 0,
    }


def test_a_value_read_long_ago_is_stale() -> None:
    c = check()
    publish(c, 0, 20.0, read_at=12.5)
    assert c.stale > 0
    assert c.wrong + c.stale + c.correct == 11


def test_each_fault_says_how_and_how_soon_the_gateway_showed_it() -> None:
    flagged = Fault(0, "silent", 5.0, 8.0, (0,))
    stopped = Fault(1, "silent", 5.0, 8.0, (1,))
    hidden = Fault(2, "exception", 5.0, 8.0, (2,))
    c = check(flagged, stopped, hidden)
    for tenth in range(30, 90, 3):  # every 0.3 s from 3 s to 9 s
        t = tenth / 10
        in_fault = 5.0 <= t < 8.0
        publish(c, 0, t, quality="bad" if in_fault else "good")
        if not in_fault:
            publish(c, 1, t)
        publish(c, 2, t)  # a gateway that never noticed
    first, second, third = c.section(9.0)["faults"]
    assert (first["detected"], first["reactions"]) == (1, {"flagged": 1})
    assert first["detected_after_s"]["max"] == 0.1  # the first message at 5.1 s
    assert (second["detected"], second["reactions"]) == (1, {"stopped": 1})
    assert second["detected_after_s"]["max"] == 0.8  # last good at 4.8 s, + 1 s
    assert (third["detected"], third["undetected_examples"]) == (0, ["pm-000002"])


def test_a_device_that_stopped_publishing_shows_in_its_gap_up_to_now() -> None:
    c = check()
    for second in range(5, 8):
        publish(c, 0, second + 0.1)
        publish(c, 2, second + 0.2)
    publish(c, 2, 8.0)
    publish(c, 2, 9.0)
    gaps = c.section(9.5)["gaps"]
    assert gaps["max_ms"] == 2400.0  # device 0: last heard at 7.1 s
    assert gaps["devices_over_staleness"] == 1
    assert gaps["worst"][0] == {"device": "cnc-000000", "max_gap_ms": 2400.0}


def test_the_summary_names_wrong_tags_faults_and_thresholds() -> None:
    c = check(Fault(0, "silent", 5.0, 8.0, (0,)))
    publish(c, 0, 4.9)
    publish(c, 0, 5.4, quality="bad")
    publish(c, 2, 5.1, energy_kwh=-1.0)
    report = {
        "gateway": c.section(6.0),
        "thresholds": [{"expr": "gateway.values.wrong == 0", "passed": False, "value": 1}],
    }
    lines = summary_lines(report)
    assert lines[0].startswith("gateway: 2/3 devices seen, ")
    assert "1 wrong" in lines[0]
    assert lines[1:] == [
        "  wrong: pm-000002/energy_kwh (1 values)",
        "fault 0 silent at 5 s: 1/1 devices showed it (flagged 1), at most 0.4 s after",
        "threshold gateway.values.wrong == 0: FAILED (got 1)",
    ]


def test_every_gateway_threshold_key_is_a_number_in_a_real_section() -> None:
    c = check(Fault(0, "silent", 5.0, 8.0, (0,)))
    publish(c, 0, 5.1, quality="bad")
    publish(c, 2, 5.2)
    publish(c, 2, 6.2)
    report = {"gateway": c.section(7.0)}
    keys = [key for key in numeric_keys() if key.startswith("gateway.")]
    assert "gateway.values.wrong" in keys
    for key in keys:
        value = get_path(report, key)
        assert value is None or isinstance(value, int | float), key
