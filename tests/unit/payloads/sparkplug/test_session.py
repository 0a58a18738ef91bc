"""The edge node's Sparkplug session rules, with the time passed in."""

from __future__ import annotations

import pytest

from simulator.errors import LocalProtocolError, PayloadError
from simulator.payloads.sparkplug import (
    DataType,
    EdgeNode,
    Message,
    Metric,
    SparkplugPayload,
    decode_payload,
    encode_payload,
)
from simulator.payloads.sparkplug.session import BD_SEQ, REBIRTH

DEVICE_METRICS = [
    Metric(name="temp", datatype=DataType.Double, value=20.0),
    Metric(name="state", datatype=DataType.String, value="idle"),
]


def born_node(devices: tuple[str, ...] = ("d1",)) -> EdgeNode:
    node = EdgeNode("plant", "gw")
    node.death_will(0)
    node.node_birth(0)
    for device in devices:
        node.device_birth(device, 0, DEVICE_METRICS)
    return node


def payload(message: Message) -> SparkplugPayload:
    return decode_payload(message.payload)


def metric_values(message: Message) -> dict[str | None, object]:
    return {m.name: m.value for m in payload(message).metrics}


def test_ndeath_will_and_nbirth_carry_the_same_bd_seq_which_grows_per_connect() -> None:
    node = EdgeNode("plant", "gw")
    for expected in (0, 1, 2):
        will = node.death_will(10)
        birth = node.node_birth(11)
        assert will.topic == "spBv1.0/plant/NDEATH/gw"
        assert birth.topic == "spBv1.0/plant/NBIRTH/gw"
        assert metric_values(will) == {BD_SEQ: expected}
        assert metric_values(birth)[BD_SEQ] == expected
        assert payload(will).seq is None  # NDEATH has no sequence number
        assert node.bd_seq == expected


def test_bd_seq_wraps_after_255() -> None:
    node = EdgeNode("plant", "gw", first_bd_seq=255)
    assert metric_values(node.death_will(0)) == {BD_SEQ: 255}
    assert metric_values(node.death_will(0)) == {BD_SEQ: 0}


def test_nbirth_declares_bd_seq_and_rebirth_with_names_types_aliases_and_times() -> None:
    node = EdgeNode("plant", "gw")
    node.death_will(0)
    birth = payload(node.node_birth(1234, [Metric(name="up", datatype=DataType.UInt32, value=1)]))
    assert birth.seq == 0
    assert birth.timestamp == 1234
    assert [(m.name, m.datatype, m.value) for m in birth.metrics] == [
        (BD_SEQ, DataType.Int64, 0),
        (REBIRTH, DataType.Boolean, False),
        ("up", DataType.UInt32, 1),
    ]
    assert all(m.alias is not None and m.timestamp == 1234 for m in birth.metrics)
    assert len({m.alias for m in birth.metrics}) == 3


def test_seq_runs_over_every_message_and_wraps_from_255_to_0() -> None:
    node = born_node()  # NBIRTH 0, DBIRTH 1
    seqs = [payload(node.device_data("d1", 5, {"temp": 1.0})).seq for _ in range(300)]
    assert seqs[:3] == [2, 3, 4]
    assert seqs[253:256] == [255, 0, 1]
    assert payload(node.node_data(6, {})).seq == (2 + 300) % 256
    assert payload(node.device_death("d1", 7)).seq == (3 + 300) % 256


def test_a_new_nbirth_restarts_seq_at_zero() -> None:
    node = born_node()
    node.device_data("d1", 5, {"temp": 1.0})
    node.death_will(6)
    assert payload(node.node_birth(7)).seq == 0
    assert payload(node.device_birth("d1", 8, DEVICE_METRICS)).seq == 1


def test_data_messages_carry_aliases_only() -> None:
    node = born_node()
    data = payload(node.device_data("d1", 9, {"state": "running"}))
    [metric] = data.metrics
    assert metric.name is None
    assert metric.alias is not None
    assert (metric.timestamp, metric.datatype, metric.value) == (9, DataType.String, "running")


def test_births_come_before_data() -> None:
    node = EdgeNode("plant", "gw")
    with pytest.raises(LocalProtocolError, match="death_will"):
        node.node_birth(0)
    node.death_will(0)
    with pytest.raises(LocalProtocolError, match="NBIRTH"):
        node.device_birth("d1", 0, DEVICE_METRICS)
    with pytest.raises(LocalProtocolError, match="NBIRTH"):
        node.device_data("d1", 0, {"temp": 1.0})
    node.node_birth(0)
    with pytest.raises(LocalProtocolError, match="before its DBIRTH"):
        node.device_data("d1", 0, {"temp": 1.0})
    node.device_birth("d1", 0, DEVICE_METRICS)
    node.device_data("d1", 0, {"temp": 1.0})
    node.death_will(1)  # a reconnect: everything must be born again
    with pytest.raises(LocalProtocolError, match="NBIRTH"):
        node.device_data("d1", 0, {"temp": 1.0})


def test_data_only_for_declared_metrics_of_the_declared_type() -> None:
    node = born_node()
    with pytest.raises(LocalProtocolError, match="not declared"):
        node.device_data("d1", 0, {"pressure": 1.0})
    with pytest.raises(LocalProtocolError, match="cannot encode"):
        node.device_data("d1", 0, {"state": 3})
    # The refused message used up no sequence number.
    assert payload(node.device_data("d1", 0, {"temp": 2.0})).seq == 2


def test_birth_metrics_need_names_and_types() -> None:
    node = born_node(())
    for bad in (Metric(datatype=DataType.Double, value=1.0), Metric(name="x", value=1.0)):
        with pytest.raises(LocalProtocolError, match="name and a data type"):
            node.device_birth("d1", 0, [bad])
    with pytest.raises(LocalProtocolError, match="twice"):
        node.device_birth("d1", 0, [DEVICE_METRICS[0], DEVICE_METRICS[0]])


def test_aliases_are_unique_across_the_node_and_its_devices() -> None:
    node = EdgeNode("plant", "gw")
    node.death_will(0)
    aliases = [m.alias for m in payload(node.node_birth(0)).metrics]
    for device in ("d1", "d2"):
        aliases += [m.alias for m in payload(node.device_birth(device, 0, DEVICE_METRICS)).metrics]
    assert len(aliases) == len(set(aliases)) == 6


def test_ddeath_then_data_needs_a_new_dbirth_with_the_same_aliases() -> None:
    node = born_node()
    first = payload(node.device_birth("d1", 0, DEVICE_METRICS))
    death = node.device_death("d1", 1)
    assert death.topic == "spBv1.0/plant/DDEATH/gw/d1"
    assert payload(death).metrics == ()
    with pytest.raises(LocalProtocolError):
        node.device_data("d1", 2, {"temp": 1.0})
    with pytest.raises(LocalProtocolError):
        node.device_death("d1", 2)
    again = payload(node.device_birth("d1", 3, DEVICE_METRICS))
    assert [m.alias for m in again.metrics] == [m.alias for m in first.metrics]


def ncmd(node: EdgeNode, metric: Metric) -> list[Message]:
    command = encode_payload(SparkplugPayload(timestamp=50, metrics=(metric,)))
    return node.handle_command("spBv1.0/plant/NCMD/gw", command, 100)


def test_rebirth_repeats_nbirth_and_every_born_dbirth_with_the_same_aliases() -> None:
    node = EdgeNode("plant", "gw")
    node.death_will(0)
    first_births = [node.node_birth(0)]
    first_births += [node.device_birth(d, 0, DEVICE_METRICS) for d in ("d1", "d2", "d3")]
    node.device_data("d2", 1, {"temp": 25.5})
    node.device_death("d3", 2)

    rebirth = ncmd(node, Metric(name=REBIRTH, datatype=DataType.Boolean, value=True))

    assert [m.topic for m in rebirth] == [
        "spBv1.0/plant/NBIRTH/gw",
        "spBv1.0/plant/DBIRTH/gw/d1",
        "spBv1.0/plant/DBIRTH/gw/d2",
    ]
    assert [payload(m).seq for m in rebirth] == [0, 1, 2]
    for old, new in zip(first_births, rebirth, strict=False):
        old_aliases = [(m.name, m.alias) for m in payload(old).metrics]
        assert [(m.name, m.alias) for m in payload(new).metrics] == old_aliases
    assert metric_values(rebirth[0])[BD_SEQ] == 0  # same session, same bdSeq
    assert metric_values(rebirth[2]) == {"temp": 25.5, "state": "idle"}  # latest values
    assert all(m.timestamp == 100 for m in payload(rebirth[1]).metrics)
    assert payload(node.device_data("d1", 101, {"temp": 1.0})).seq == 3


def test_rebirth_by_alias_as_hosts_send_it() -> None:
    node = born_node()
    alias = next(m.alias for m in payload(node.node_birth(0)).metrics if m.name == REBIRTH)
    node.device_birth("d1", 0, DEVICE_METRICS)
    births = ncmd(node, Metric(alias=alias, datatype=DataType.Boolean, value=True))
    assert len(births) == 2


def test_other_commands_change_nothing() -> None:
    node = born_node()
    assert ncmd(node, Metric(name=REBIRTH, datatype=DataType.Boolean, value=False)) == []
    assert (
        ncmd(node, Metric(name="Node Control/Reboot", datatype=DataType.Boolean, value=True)) == []
    )
    dcmd = encode_payload(SparkplugPayload(metrics=(Metric(name="temp", value=1.0),)))
    assert node.handle_command("spBv1.0/plant/DCMD/gw/d1", dcmd, 0) == []
    assert payload(node.device_data("d1", 0, {"temp": 1.0})).seq == 2


def test_commands_that_are_not_for_this_node_or_not_well_formed_are_refused() -> None:
    node = born_node()
    with pytest.raises(LocalProtocolError):
        node.handle_command("spBv1.0/plant/NCMD/other", b"", 0)
    with pytest.raises(LocalProtocolError):
        node.handle_command("spBv1.0/plant/NDATA/gw", b"", 0)
    with pytest.raises(PayloadError):
        node.handle_command("spBv1.0/plant/NCMD/gw", b"\x12\x05", 0)
    with pytest.raises(PayloadError, match="Boolean"):
        ncmd(node, Metric(name=REBIRTH, datatype=DataType.String, value="yes"))


def test_node_death_ends_the_session() -> None:
    node = born_node()
    death = node.node_death(5)
    assert death.topic == "spBv1.0/plant/NDEATH/gw"
    assert metric_values(death) == {BD_SEQ: 0}
    with pytest.raises(LocalProtocolError):
        node.device_data("d1", 6, {"temp": 1.0})


def test_invalid_ids_are_refused() -> None:
    with pytest.raises(PayloadError):
        EdgeNode("plant/1", "gw")
    node = born_node(())
    with pytest.raises(PayloadError):
        node.device_birth("d+", 0, DEVICE_METRICS)
