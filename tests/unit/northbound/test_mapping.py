"""Reading a gateway's messages back as (device, signal, value): each declared JSON shape,
the gateway's quality field, Sparkplug B by name and by the alias its DBIRTH gave."""

from __future__ import annotations

import json
from typing import Any

import pytest

from simulator.errors import PayloadError
from simulator.northbound.mapping import GatewayMapping, Reading
from simulator.payloads.sparkplug.model import Metric, SparkplugPayload
from simulator.payloads.sparkplug.payload import encode_payload
from simulator.scenario.gateway import GatewaySettings


def mapping(**settings: Any) -> GatewayMapping:
    return GatewayMapping(GatewaySettings(**settings))


def body(document: object) -> bytes:
    return json.dumps(document).encode()


def test_device_in_the_topic_values_in_an_object() -> None:
    m = mapping(topic="plant/{device}/data")
    assert m.filter == "plant/+/data"
    assert m.readings("plant/cnc-000001/data", body({"values": {"a": 1, "b": "running"}})) == [
        Reading("cnc-000001", "a", 1),
        Reading("cnc-000001", "b", "running"),
    ]


def test_one_value_per_message_with_a_signal_level_and_a_nested_key() -> None:
    m = mapping(topic="v1/+/{device}/{signal}", values="data.v")
    assert m.filter == "v1/+/+/+"
    got = m.readings("v1/site/pm-000002/energy_kwh", body({"data": {"v": 12.5}}))
    assert got == [Reading("pm-000002", "energy_kwh", 12.5)]
    bare = mapping(topic="v1/{device}/{signal}", values="")
    assert bare.readings("v1/d/s", b"3") == [Reading("d", "s", 3)]


def test_device_in_the_payload_and_the_top_level_as_values() -> None:
    m = mapping(topic="gw/out", device_key="node", values="")
    # With the device in the payload, the payload's other keys are the values.
    assert m.readings("gw/out", body({"node": "r-1", "x": 2})) == [
        Reading("r-1", "node", "r-1"),
        Reading("r-1", "x", 2),
    ]
    nested = mapping(topic="gw/out", device_key="meta.device", values="values")
    assert nested.readings("gw/out", body({"meta": {"device": "r-1"}, "values": {"x": 2}})) == [
        Reading("r-1", "x", 2)
    ]


def test_quality_for_the_message_or_per_signal() -> None:
    m = mapping(topic="p/{device}", quality="q", good_quality=["good", "192"])
    assert m.readings("p/d", body({"q": "bad", "values": {"a": None}})) == [
        Reading("d", "a", None, good=False)
    ]
    assert m.readings("p/d", body({"q": 192, "values": {"a": 1}})) == [Reading("d", "a", 1)]
    per_signal = m.readings(
        "p/d", body({"q": {"a": "good", "b": "uncertain"}, "values": {"a": 1, "b": 2}})
    )
    assert per_signal == [Reading("d", "a", 1), Reading("d", "b", 2, good=False)]


@pytest.mark.parametrize(
    ("topic", "payload", "why"),
    [
        ("p/d", b"{not json", "not JSON"),
        ("p/d", body({"other": {}}), "no 'values'"),
        ("p/d", body({"values": [1, 2]}), "is not an object"),
        ("p/d/extra", body({"values": {}}), "does not have the levels"),
    ],
)
def test_a_message_of_another_shape_is_a_payload_error(
    topic: str, payload: bytes, why: str
) -> None:
    with pytest.raises(PayloadError, match=why):
        mapping(topic="p/{device}").readings(topic, payload)


def test_sparkplug_metrics_by_name_then_by_the_alias_of_the_birth() -> None:
    m = mapping(format="sparkplug")
    assert m.filter == "spBv1.0/+/+/+/+"
    birth = SparkplugPayload(
        1, (Metric("Modbus/temperature_c", 1, value=21.5), Metric("state", 2, value="idle")), 0
    )
    assert m.readings("spBv1.0/g/DBIRTH/edge/ms-1", encode_payload(birth)) == [
        Reading("ms-1", "temperature_c", 21.5),
        Reading("ms-1", "state", "idle"),
    ]
    data = SparkplugPayload(2, (Metric(alias=1, value=22.0), Metric(alias=9, value=1.0)), 1)
    assert m.readings("spBv1.0/g/DDATA/edge/ms-1", encode_payload(data)) == [
        Reading("ms-1", "temperature_c", 22.0)
    ]
    # Another device's aliases are its own; node messages carry no device values.
    assert m.readings("spBv1.0/g/DDATA/edge/ms-2", encode_payload(data)) == []
    assert m.readings("spBv1.0/g/NBIRTH/edge/ms-1", encode_payload(birth)) == []
