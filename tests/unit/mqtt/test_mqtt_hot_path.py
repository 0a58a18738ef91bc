"""The device hot path writes exactly what the general encoder writes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.errors import LocalProtocolError
from simulator.mqtt import (
    MQTTVersion,
    Publish,
    encode,
    publish_prefix,
)
from simulator.mqtt.encoder import encode_publish_with_id
from simulator.mqtt.inflight import PUBLISH_QOS1
from tests.unit.mqtt.mqtt_strategies import topics
from tests.unit.mqtt.sessions import connected
from tests.unit.mqtt.versions import VERSIONS

# Sizes around the one-, two- and three-byte remaining length boundaries.
sizes = st.sampled_from([0, 1, 100, 120, 127, 16_300, 16_383, 16_384, 20_000]) | st.integers(0, 300)


@pytest.mark.parametrize("version", VERSIONS)
@given(topic=topics, size=sizes)
def test_qos0_matches_the_general_encoder(version: MQTTVersion, topic: str, size: int) -> None:
    payload = bytes(size)
    wire = connected(version, keepalive=0).publish_prefixed(publish_prefix(topic, version), payload)
    assert wire == encode(Publish(topic, payload), version)


@pytest.mark.parametrize("version", VERSIONS)
@given(topic=topics, size=sizes, packet_id=st.integers(1, 0xFFFF))
def test_qos1_matches_the_general_encoder(
    version: MQTTVersion, topic: str, size: int, packet_id: int
) -> None:
    payload = bytes(size)
    prefix = publish_prefix(topic, version)
    wire = encode_publish_with_id(PUBLISH_QOS1, prefix, packet_id, payload, version)
    assert wire == encode(Publish(topic, payload, qos=1, packet_id=packet_id), version)


@pytest.mark.parametrize("packet_id", [0, 65_536])
def test_qos1_refuses_a_bad_packet_id(packet_id: int) -> None:
    prefix = publish_prefix("t", MQTTVersion.V5)
    with pytest.raises(LocalProtocolError, match="packet id"):
        encode_publish_with_id(PUBLISH_QOS1, prefix, packet_id, b"", MQTTVersion.V5)


@pytest.mark.parametrize("topic", ["", "a/+", "a/#", "nul\x00"])
def test_prefix_refuses_an_invalid_topic(topic: str) -> None:
    with pytest.raises(LocalProtocolError):
        publish_prefix(topic, MQTTVersion.V5)
