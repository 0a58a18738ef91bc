"""The Sparkplug B topic namespace."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.errors import TopicError
from simulator.payloads.sparkplug import (
    MessageType,
    SparkplugTopic,
    build_topic,
    parse_topic,
    state_topic,
)

NODE_TYPES = [MessageType.NBIRTH, MessageType.NDEATH, MessageType.NDATA, MessageType.NCMD]
DEVICE_TYPES = [MessageType.DBIRTH, MessageType.DDEATH, MessageType.DDATA, MessageType.DCMD]
ids = st.text(min_size=1, max_size=12).filter(lambda s: not set(s) & set("/+#"))


def test_the_specifications_examples() -> None:
    assert build_topic(MessageType.NBIRTH, "Sparkplug B Devices", "Raspberry Pi") == (
        "spBv1.0/Sparkplug B Devices/NBIRTH/Raspberry Pi"
    )
    assert parse_topic("spBv1.0/Sparkplug B Devices/DDATA/Raspberry Pi/Pibrella") == SparkplugTopic(
        MessageType.DDATA, "Sparkplug B Devices", "Raspberry Pi", "Pibrella"
    )
    assert parse_topic(state_topic("scada-1")) == SparkplugTopic(
        MessageType.STATE, host_id="scada-1"
    )


@given(st.sampled_from(NODE_TYPES), ids, ids)
def test_node_topics_round_trip(kind: MessageType, group: str, node: str) -> None:
    topic = build_topic(kind, group, node)
    parsed = parse_topic(topic)
    assert parsed == SparkplugTopic(kind, group, node)
    assert str(parsed) == topic


@given(st.sampled_from(DEVICE_TYPES), ids, ids, ids)
def test_device_topics_round_trip(kind: MessageType, group: str, node: str, device: str) -> None:
    topic = build_topic(kind, group, node, device)
    assert parse_topic(topic) == SparkplugTopic(kind, group, node, device)
    assert str(parse_topic(topic)) == topic


@pytest.mark.parametrize(
    ("kind", "group", "node", "device"),
    [
        (MessageType.NDATA, "g", "n", "d"),  # a node message names no device
        (MessageType.DDATA, "g", "n", None),  # a device message must
        (MessageType.NDATA, "", "n", None),
        (MessageType.NDATA, "g/h", "n", None),
        (MessageType.NDATA, "g", "n+", None),
        (MessageType.DDATA, "g", "n", "#"),
        (MessageType.NDATA, "g\ud800", "n", None),
        (MessageType.STATE, "g", "n", None),
    ],
)
def test_build_refuses_invalid_topics(
    kind: MessageType, group: str, node: str, device: str | None
) -> None:
    with pytest.raises(TopicError):
        build_topic(kind, group, node, device)


@pytest.mark.parametrize(
    "topic",
    [
        "spAv1.0/g/NDATA/n",
        "spBv1.0/g/NDATA",
        "spBv1.0/g/NDATA/n/d",
        "spBv1.0/g/DDATA/n",
        "spBv1.0/g/XDATA/n",
        "spBv1.0/g/STATE/n",
        "spBv1.0/g//n",
        "spBv1.0//NDATA/n",
        "spBv1.0/g/DDATA/n/d/extra",
        "spBv1.0/STATE/",
        "spBv1.0/STATE/+",
        "",
    ],
)
def test_parse_refuses_invalid_topics(topic: str) -> None:
    with pytest.raises(TopicError):
        parse_topic(topic)
