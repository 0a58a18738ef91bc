"""``[gateway]``: strict like every table, every problem at once with its key; and what the
check needs of a scenario that is valid without it."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.errors import ScenarioError
from simulator.northbound.service import check_problems, shown_values
from simulator.northbound.truth import RegisterValues
from simulator.scenario.loader import validate_scenario
from simulator.scenario.schema import Scenario
from simulator.southbound.node_values import NodeValues


def scenario(**tables: Any) -> Scenario:
    data = {
        "name": "g",
        "duration_s": 5,
        "fleet": {"devices": 4, "publish_interval_s": 1.0},
        **tables,
    }
    return validate_scenario(data, "g.toml")


def problems(**gateway: Any) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        scenario(gateway=gateway)
    return [f"{p.path}: {p.message}" for p in caught.value.problems]


def test_defaults_and_a_full_table() -> None:
    settings = scenario(
        gateway={
            "topic": "v1/+/{device}/{signal}/#",
            "values": "data.value",
            "quality": "q",
            "good_quality": ["good", "192"],
            "max_staleness_ms": 500,
            "qos": 1,
        }
    ).gateway
    assert (settings.format, settings.max_staleness_ms, settings.qos) == ("json", 500, 1)
    assert scenario().gateway.topic == ""


@pytest.mark.parametrize(
    ("gateway", "message"),
    [
        ({"topic": "plant/dev-{device}"}, "must be a whole level {device} or {signal}"),
        ({"topic": "plant/{place}/x"}, "must be a whole level {device} or {signal}"),
        ({"topic": "a/{device}/{device}"}, "must name {device} once"),
        ({"topic": "a/#/{device}"}, "may have # only as its last level"),
        ({"topic": "a/b+/{device}"}, "+ and # must be whole levels"),
        ({"topic": "a/b"}, "name the device: a {device} level in topic, or device_key"),
        ({"topic": "s/{device}/{signal}", "format": "sparkplug"}, "no {signal} level"),
    ],
)
def test_a_topic_that_cannot_be_read_back_is_refused(gateway: dict[str, Any], message: str) -> None:
    (found,) = problems(**gateway)
    assert message in found


def test_every_bad_key_is_reported_at_once() -> None:
    found = problems(format="xml", max_staleness_ms=0, good_quality=[], qos=2, colour="red")
    assert [line.split(":")[0] for line in found] == [
        "gateway.format",
        "gateway.good_quality",
        "gateway.max_staleness_ms",
        "gateway.qos",
        "gateway.colour",
    ]


def test_the_check_needs_a_topic_for_json_whatever_the_south_serves() -> None:
    for protocol in ("modbus", "opcua", "modbus+opcua"):
        found = check_problems(scenario(southbound={"protocol": protocol}))
        assert [p.path for p in found] == ["gateway.topic"]
    assert check_problems(scenario(gateway={"format": "sparkplug"})) == []


@pytest.mark.parametrize(
    ("southbound", "expected"),
    [
        ({}, [(RegisterValues, range(4))]),
        ({"protocol": "opcua"}, [(NodeValues, range(4))]),
        ({"protocol": "modbus+opcua"}, [(RegisterValues, range(4))]),
        (
            {"protocol": "modbus+opcua", "modbus_devices": 1},
            [(RegisterValues, range(1)), (NodeValues, range(1, 4))],
        ),
    ],
    ids=["modbus", "opcua", "both-ways", "split"],
)
def test_the_truth_is_the_registers_wherever_modbus_shows_a_device(
    southbound: dict[str, Any], expected: list[tuple[type, range]]
) -> None:
    """A device served both ways is checked by its registers (every node value names its
    register's number); one served over OPC UA only by its node values."""
    shown = shown_values(scenario(southbound=southbound))
    assert [(type(source), source.devices) for source in shown] == expected
