"""The slotted edge node: counters, births and data messages, read back by pysparkplug too."""

from __future__ import annotations

import pytest

from simulator.errors import InvalidArgumentError, LocalProtocolError, PayloadError
from simulator.payloads.codec import Value
from simulator.payloads.sparkplug import (
    DataType,
    Metric,
    SparkplugPayload,
    decode_payload,
    encode_payload,
)
from simulator.payloads.sparkplug.slotted_node import (
    NodeCounters,
    alias_base,
    data_payload,
    death_payload,
    decode_data,
    device_birth_payload,
    device_death_payload,
    node_birth_payload,
    wants_rebirth,
)
from tests import required

pysparkplug = required.pysparkplug()
pb2 = required.pysparkplug_protobuf()

SAMPLE: dict[str, Value] = {"temp": 21.5, "state": "running", "count": 7, "alarm": False}
TS_NS = 1_700_000_000_123_456_789


def test_bd_seq_advances_per_session_and_wraps_after_255() -> None:
    node = NodeCounters(first_bd_seq=254)
    assert [node.new_session() for _ in range(3)] == [254, 255, 0]
    assert node.bd_seq == 0
    assert not node.born


def test_seq_restarts_at_each_birth_runs_over_every_message_and_wraps() -> None:
    node = NodeCounters()
    node.new_session()
    assert node.birth() == 0
    assert [node.take() for _ in range(256)] == [*range(1, 256), 0]
    node.give_back()
    assert node.take() == 0
    assert node.birth() == 0
    assert node.take() == 1


def test_no_birth_without_a_session_and_no_data_before_the_birth() -> None:
    node = NodeCounters()
    with pytest.raises(LocalProtocolError, match="new_session"):
        node.birth()
    node.new_session()
    with pytest.raises(LocalProtocolError, match="before the NBIRTH"):
        node.take()
    with pytest.raises(InvalidArgumentError, match=r"0\.\.255"):
        NodeCounters(first_bd_seq=256)


def test_aliases_of_slots_never_overlap_each_other_or_the_node_metrics() -> None:
    stride = 3 + len(SAMPLE)
    taken = [alias_base(slot, stride) + k for slot in range(50) for k in range(stride)]
    assert len(set(taken)) == len(taken)
    assert min(taken) == 2  # 0 and 1 are bdSeq and Node Control/Rebirth


def test_pysparkplug_reads_a_death_and_births_with_their_bd_seq() -> None:
    death = pysparkplug.NDeath.decode(death_payload(7, 1_000))
    assert death.bd_seq_metric.value == 7
    assert decode_payload(death_payload(7, 1_000)).seq is None  # NDEATH has no seq
    birth = pysparkplug.NBirth.decode(node_birth_payload(7, 1_000))
    assert birth.seq == 0
    assert [(m.name, m.alias, m.value) for m in birth.metrics] == [
        ("bdSeq", 0, 7),
        ("Node Control/Rebirth", 1, False),
    ]
    ours = decode_payload(node_birth_payload(7, 1_234))
    assert ours.timestamp == 1_234
    # bdSeq as Int64, as the reference implementation sends it; every metric timed.
    assert [(m.datatype, m.timestamp) for m in ours.metrics] == [
        (DataType.Int64, 1_234),
        (DataType.Boolean, 1_234),
    ]


def test_a_ddeath_carries_the_node_seq_and_no_metrics() -> None:
    ddeath = decode_payload(device_death_payload(9, 1_000))
    assert (ddeath.seq, ddeath.timestamp, ddeath.metrics) == (9, 1_000, ())


def test_data_carries_aliases_only_and_pysparkplug_resolves_them_through_the_birth() -> None:
    base = alias_base(3, 10)
    birth = pysparkplug.DBirth.decode(
        device_birth_payload(4, 1_700_000_000_000, base, "cnc-000042", 300, TS_NS, SAMPLE)
    )
    assert birth.seq == 4
    assert [(m.name, m.alias, m.datatype.name) for m in birth.metrics] == [
        ("sim/device", base, "STRING"),
        ("sim/seq", base + 1, "UINT64"),
        ("sim/ts_ns", base + 2, "UINT64"),
        ("temp", base + 3, "DOUBLE"),
        ("state", base + 4, "STRING"),
        ("count", base + 5, "INT64"),
        ("alarm", base + 6, "BOOLEAN"),
    ]
    later: dict[str, float | int | str | bool] = {
        "temp": -3.25,
        "state": "idle",
        "count": 8,
        "alarm": True,
    }
    raw = data_payload(5, base, "cnc-000042", 301, TS_NS, later)
    # Data messages carry aliases only, and no data type: the names came from the birth.
    assert not any(
        m.HasField("name") or m.HasField("datatype") for m in pb2.Payload.FromString(raw).metrics
    )
    data = pysparkplug.DData.decode(raw, birth=birth)
    assert data.seq == 5
    assert data.timestamp == TS_NS // 1_000_000
    assert {m.name: m.value for m in data.metrics} == {
        "sim/device": "cnc-000042",
        "sim/seq": 301,
        "sim/ts_ns": TS_NS,
        **later,
    }


def test_a_device_that_is_its_own_edge_node_is_declared_in_the_nbirth() -> None:
    raw = node_birth_payload(0, 1_000, (alias_base(0, 10), "ms-000001", 0, TS_NS, SAMPLE))
    birth = pysparkplug.NBirth.decode(raw)
    assert [m.name for m in birth.metrics][:5] == [
        "bdSeq",
        "Node Control/Rebirth",
        "sim/device",
        "sim/seq",
        "sim/ts_ns",
    ]
    data = pysparkplug.NData.decode(data_payload(1, 2, "ms-000001", 0, TS_NS, SAMPLE), birth=birth)
    assert data.metrics[0].value == "ms-000001"


@pytest.mark.parametrize("seq", [0, 255, 256, (1 << 64) - 1])
def test_ingest_reads_device_seq_and_time_without_the_birth(seq: int) -> None:
    raw = data_payload(200, alias_base(7, 9), "pl-000003", seq, TS_NS, SAMPLE)
    assert tuple(decode_data(raw)) == ("pl-000003", seq, TS_NS, {})


def test_another_field_order_with_the_same_meaning_is_read_too() -> None:
    metrics = (
        Metric(alias=9, value="dev"),
        Metric(alias=10, value=12),
        Metric(alias=11, value=TS_NS),
    )
    # uuid before the metrics is not the layout data_payload writes: the general path reads it.
    raw = encode_payload(SparkplugPayload(uuid="u", seq=3)) + encode_payload(
        SparkplugPayload(TS_NS // 1_000_000, metrics)
    )
    assert tuple(decode_data(raw)) == ("dev", 12, TS_NS, {})


def test_ingest_refuses_what_is_not_a_data_message_of_the_fleet() -> None:
    good = data_payload(1, 2, "dev", 5, TS_NS, SAMPLE)
    for raw in (
        b"",
        good[:-1],
        good[:-2],
        death_payload(1, 5),
        encode_payload(SparkplugPayload(1, (Metric(alias=2, value="dev"),), 0)),
    ):
        with pytest.raises(PayloadError):
            decode_data(raw)
    sim = (Metric(alias=2, value="dev"), Metric(alias=3, value=5), Metric(alias=4, value=TS_NS))
    assert tuple(decode_data(encode_payload(SparkplugPayload(TS_NS // 1_000_000, sim, 0))))
    with pytest.raises(PayloadError, match="timestamp"):
        decode_data(encode_payload(SparkplugPayload(TS_NS // 1_000_000 + 1, sim, 0)))
    with pytest.raises(PayloadError, match="consecutive aliases"):
        decode_data(encode_payload(SparkplugPayload(TS_NS // 1_000_000, sim[::-1], 0)))


def test_a_rebirth_command_is_recognised_by_name_or_alias() -> None:
    def command(*metrics: Metric) -> bytes:
        return encode_payload(SparkplugPayload(1, metrics))

    rebirth = "Node Control/Rebirth"
    assert wants_rebirth(command(Metric(rebirth, datatype=DataType.Boolean, value=True)))
    assert wants_rebirth(command(Metric(alias=1, datatype=DataType.Boolean, value=True)))
    assert not wants_rebirth(command(Metric(rebirth, datatype=DataType.Boolean, value=False)))
    assert not wants_rebirth(command(Metric("other", datatype=DataType.Boolean, value=True)))
    with pytest.raises(PayloadError):
        wants_rebirth(command(Metric(rebirth, datatype=DataType.Int32, value=1)))
    with pytest.raises(PayloadError):
        wants_rebirth(b"\x12\x05")  # a metric cut short: not a payload at all
