"""The ``sparkplug`` payload codec: what the map-shaped contract tests cannot say about it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.errors import PayloadError
from simulator.payloads import Telemetry, Value, get_codec
from simulator.payloads.sparkplug import (
    DataType,
    Metric,
    SparkplugPayload,
    Template,
    decode_payload,
    encode_payload,
)
from simulator.payloads.sparkplug.codec import (
    DEVICE,
    SEQ,
    TS_NS,
    _decode_any_layout,
    _decode_own_layout,
)

CODEC = get_codec("sparkplug")
TS_NS_VALUE = 1_700_000_000_123_456_789


def sim_metrics(device: str = "ms-1", seq: int = 300, ts_ns: int = TS_NS_VALUE) -> list[Metric]:
    return [
        Metric(name=DEVICE, datatype=DataType.String, value=device),
        Metric(name=SEQ, datatype=DataType.UInt64, value=seq),
        Metric(name=TS_NS, datatype=DataType.UInt64, value=ts_ns),
    ]


def message(metrics: list[Metric], timestamp: int = TS_NS_VALUE // 10**6, seq: int = 44) -> bytes:
    return encode_payload(SparkplugPayload(timestamp, tuple(metrics), seq))


telemetry_values = st.dictionaries(
    st.text(max_size=8),
    st.booleans()
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.integers(min_value=-(1 << 63), max_value=(1 << 64) - 1),
    max_size=6,
)
"""A device's signal values: any name, any value type the codec carries."""


@given(telemetry_values)
def test_codec_bytes_are_the_general_encoders_bytes(values: dict[str, Value]) -> None:
    # The codec writes its bytes directly for speed; they must be exactly what the general
    # encoder writes for the same payload.
    def datatype(value: Value) -> DataType:
        if isinstance(value, bool):
            return DataType.Boolean
        if isinstance(value, float):
            return DataType.Double
        if isinstance(value, str):
            return DataType.String
        return DataType.Int64 if value < 1 << 63 else DataType.UInt64

    metrics = sim_metrics() + [
        Metric(name=k, datatype=datatype(v), value=v) for k, v in values.items()
    ]
    assert CODEC.encode("ms-1", 300, TS_NS_VALUE, values) == message(metrics)


def test_the_payload_is_readable_sparkplug() -> None:
    decoded = decode_payload(CODEC.encode("ms-1", 300, TS_NS_VALUE, {"t": 1.5}))
    assert decoded.timestamp == TS_NS_VALUE // 10**6
    assert decoded.seq == 300 % 256
    assert decoded.metrics[-1] == Metric(name="t", datatype=DataType.Double, value=1.5)


def test_other_sparkplug_scalar_types_decode_as_telemetry_values() -> None:
    values = [
        Metric(name="f", datatype=DataType.Float, value=0.5),
        Metric(name="i", datatype=DataType.Int8, value=-5),
        Metric(name="u", datatype=DataType.UInt32, value=7),
        Metric(name="x", datatype=DataType.Text, value="text"),
        Metric(name="when", datatype=DataType.DateTime, value=12),
        Metric(name="untyped", value=3),
    ]
    expected: dict[str, Value] = {"f": 0.5, "i": -5, "u": 7, "x": "text", "when": 12, "untyped": 3}
    assert CODEC.decode(message(sim_metrics() + values)) == Telemetry(
        "ms-1", 300, TS_NS_VALUE, expected
    )


@pytest.mark.parametrize(
    ("metrics", "reason"),
    [
        (sim_metrics()[1:], "starts with"),
        (sim_metrics()[:2], "starts with"),
        ([sim_metrics()[1], sim_metrics()[0], sim_metrics()[2]], "starts with"),
        (sim_metrics() + sim_metrics()[1:2] * 2, "twice"),
        (sim_metrics() + [Metric(name="t", value=1.0)] * 2, "twice"),
        ([Metric(name=DEVICE, datatype=DataType.Text, value="d"), *sim_metrics()[1:]], "String"),
        ([*sim_metrics()[:2], Metric(name=TS_NS, datatype=DataType.Int64, value=5)], "UInt64"),
        (
            [*sim_metrics()[:2], Metric(name=TS_NS, datatype=DataType.UInt64, is_null=True)],
            "UInt64",
        ),
        ([sim_metrics()[0], Metric(name=SEQ, value=300), sim_metrics()[2]], "UInt64"),
        ([*sim_metrics(), Metric(name="t", datatype=DataType.Double, is_null=True)], "no value"),
        ([*sim_metrics(), Metric(name="t", datatype=DataType.Double)], "no value"),
        ([*sim_metrics(), Metric(alias=4, datatype=DataType.Double, value=1.0)], "no name"),
        ([*sim_metrics(), Metric(name="b", datatype=DataType.Bytes, value=b"x")], "not a number"),
        ([*sim_metrics(), Metric(name="t", datatype=DataType.Template, value=Template())], "not a"),
    ],
)
def test_malformed_messages_are_refused(metrics: list[Metric], reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        CODEC.decode(message(metrics))


def test_payload_time_and_seq_must_agree_with_the_sim_metrics() -> None:
    with pytest.raises(PayloadError, match="timestamp"):
        CODEC.decode(message(sim_metrics(), timestamp=1))
    with pytest.raises(PayloadError, match="seq"):
        CODEC.decode(message(sim_metrics(), seq=45))
    with pytest.raises(PayloadError, match="seq"):
        CODEC.decode(encode_payload(SparkplugPayload(TS_NS_VALUE // 10**6, tuple(sim_metrics()))))


def test_values_may_have_the_names_of_the_sim_metrics() -> None:
    # The sim/ metrics are known by their place, first, so no signal name is reserved.
    values: dict[str, Value] = {DEVICE: 1, SEQ: "x", TS_NS: 0.0}
    assert CODEC.decode(CODEC.encode("d", 1, 2, values)) == Telemetry("d", 1, 2, values)


@given(st.text(max_size=8), st.integers(0, (1 << 64) - 1), telemetry_values, st.data())
def test_the_fast_decoder_agrees_with_the_general_one(
    device_id: str, seq: int, values: dict[str, Value], data: st.DataObject
) -> None:
    # decode() reads its own layout in one pass and hands anything else to the general decoder;
    # whatever the fast path accepts, the general path must accept with the same result.
    encoded = CODEC.encode(device_id, seq, TS_NS_VALUE, values)
    assert _decode_own_layout(encoded) == _decode_any_layout(encoded)  # the fast path is taken
    mutated = bytearray(encoded)
    for _ in range(data.draw(st.integers(1, 3))):
        mutated[data.draw(st.integers(0, len(mutated) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(mutated)))
    for candidate in (bytes(mutated), encoded[:cut], encoded + bytes(mutated[:cut])):
        fast = _decode_own_layout(candidate)
        if fast is not None:
            # repr, not ==: a mutated double can decode as NaN, which equals nothing, itself too.
            assert repr(fast) == repr(_decode_any_layout(candidate))
