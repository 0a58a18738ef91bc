"""The contract every payload codec keeps, run against each name in codec_names()."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from itertools import pairwise

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.errors import PayloadError
from simulator.payloads import (
    DEFAULT_CODEC,
    U64_LIMIT,
    PayloadCodec,
    Telemetry,
    Value,
    codec_names,
    get_codec,
)

I64_MIN = -(1 << 63)

# How to write an arbitrary object in each codec's format without the codec's own checks, so
# tests can hand the decoder well-formed bytes holding a malformed message.
RAW_WRITERS: dict[str, Callable[[object], bytes]] = {
    "msgpack": lambda obj: msgpack.packb(obj, use_bin_type=True),
    "json": lambda obj: json.dumps(obj).encode(),
}
# Sparkplug B is a fixed protobuf schema, not a map: a malformed map (a missing key, a nested
# value, a list at the top) has no Sparkplug spelling, so the tests built on raw() run over
# the map codecs only (the map_codec fixture).
# tests/unit/payloads/sparkplug/test_codec.py holds its equivalents: missing, duplicated or
# mistyped sim/ metrics, nulls, unnamed metrics, bytes and template values.
NOT_MAPS = frozenset({"sparkplug"})

u64 = st.integers(min_value=0, max_value=U64_LIMIT - 1)
values_strategy = st.dictionaries(
    st.text(max_size=20),
    st.one_of(
        st.floats(allow_nan=False, allow_infinity=False),
        st.integers(min_value=I64_MIN, max_value=U64_LIMIT - 1),
        st.text(max_size=20),
        st.booleans(),
    ),
    max_size=8,
)


def valid_message() -> dict[str, object]:
    return {"id": "ms-000001", "seq": 5, "ts": 1_700_000_000_000_000_000, "v": {"t": 1.5}}


# Module scope: a codec is reused across messages in production too, so hypothesis examples
# sharing one instance also checks that no state leaks from one message to the next.
@pytest.fixture(scope="module", params=codec_names())
def codec(request: pytest.FixtureRequest) -> PayloadCodec:
    name: str = request.param
    return get_codec(name)


@pytest.fixture(scope="module", params=[name for name in codec_names() if name not in NOT_MAPS])
def map_codec(request: pytest.FixtureRequest) -> PayloadCodec:
    """A codec whose payloads are maps, so that raw() can write a malformed one."""
    name: str = request.param
    return get_codec(name)


def raw(codec: PayloadCodec, obj: object) -> bytes:
    return RAW_WRITERS[codec.name](obj)


def test_every_codec_has_a_raw_writer_for_these_tests() -> None:
    assert set(codec_names()) - NOT_MAPS == set(RAW_WRITERS)


def test_registry_names_match_codecs(codec: PayloadCodec) -> None:
    assert codec.name in codec_names()
    assert "/" in codec.content_type


def test_default_codec_is_listed_first() -> None:
    assert codec_names()[0] == DEFAULT_CODEC == "msgpack"


def test_unknown_codec_names_the_allowed_ones() -> None:
    with pytest.raises(PayloadError) as info:
        get_codec("protobuf")
    message = str(info.value)
    assert "protobuf" in message
    assert all(name in message for name in codec_names())


@given(device_id=st.text(max_size=40), seq=u64, ts_ns=u64, values=values_strategy)
def test_round_trip(
    codec: PayloadCodec, device_id: str, seq: int, ts_ns: int, values: dict[str, Value]
) -> None:
    decoded = codec.decode(codec.encode(device_id, seq, ts_ns, values))
    assert decoded == Telemetry(device_id, seq, ts_ns, values)
    # Equality alone would let True come back as 1 or 2.0 as 2.
    assert [type(v) for v in decoded.values.values()] == [type(v) for v in values.values()]


@given(device_id=st.text(max_size=40), seq=u64, ts_ns=u64, values=values_strategy)
def test_encode_sample_gives_the_bytes_encode_gives(
    codec: PayloadCodec, device_id: str, seq: int, ts_ns: int, values: dict[str, Value]
) -> None:
    """Without its check, the same bytes for a valid message (the check only refuses)."""
    try:
        expected = codec.encode(device_id, seq, ts_ns, values)
    except PayloadError:  # what the format cannot carry, a lone surrogate in JSON say
        with pytest.raises(PayloadError):
            codec.encode_sample(device_id, seq, ts_ns, values)
        return
    assert codec.encode_sample(device_id, seq, ts_ns, values) == expected


@pytest.mark.parametrize(
    ("seq", "ts_ns"),
    [(U64_LIMIT - 1, U64_LIMIT - 1), ((1 << 53) + 1, (1 << 63) + 1), (0, 0)],
)
def test_seq_and_timestamp_keep_64_bit_precision(codec: PayloadCodec, seq: int, ts_ns: int) -> None:
    decoded = codec.decode(codec.encode("d", seq, ts_ns, {}))
    assert (decoded.seq, decoded.ts_ns) == (seq, ts_ns)
    assert type(decoded.seq) is int
    assert type(decoded.ts_ns) is int


def test_unicode_device_ids_and_names(codec: PayloadCodec) -> None:
    device_id = "Prüfstand-東京-🏭-0042"
    values: dict[str, Value] = {"température_°C": 21.5, "état": "en marche ✓"}
    assert codec.decode(codec.encode(device_id, 1, 2, values)) == (device_id, 1, 2, values)


def test_non_finite_floats_round_trip_or_are_refused(codec: PayloadCodec) -> None:
    for value in (math.nan, math.inf, -math.inf):
        try:
            payload = codec.encode("d", 0, 0, {"x": value})
        except PayloadError:
            continue
        decoded = codec.decode(payload).values["x"]
        assert isinstance(decoded, float)
        assert decoded == value or (math.isnan(value) and math.isnan(decoded))


@pytest.mark.parametrize(
    ("device_id", "seq", "ts_ns", "values"),
    [
        (42, 0, 0, {}),
        ("d", -1, 0, {}),
        ("d", U64_LIMIT, 0, {}),
        ("d", True, 0, {}),
        ("d", 0, 1.5, {}),
        ("d", 0, 0, {"x": None}),
        ("d", 0, 0, {"x": [1, 2]}),
        ("d", 0, 0, {"x": {"nested": 1}}),
        ("d", 0, 0, {"x": b"raw"}),
        ("d", 0, 0, {"x": U64_LIMIT}),
        ("d", 0, 0, {1: 1.0}),
        ("d\ud800", 0, 0, {}),
    ],
)
def test_encode_refuses_what_decode_would_refuse(
    codec: PayloadCodec, device_id: object, seq: object, ts_ns: object, values: object
) -> None:
    with pytest.raises(PayloadError):
        codec.encode(device_id, seq, ts_ns, values)  # type: ignore[arg-type]


def test_every_truncation_is_refused(codec: PayloadCodec) -> None:
    payload = codec.encode("ms-000001", 7, 1_700_000_000_000_000_000, {"t": 1.5, "s": "idle"})
    for end in range(len(payload)):
        with pytest.raises(PayloadError):
            codec.decode(payload[:end])


def test_trailing_bytes_are_refused(codec: PayloadCodec) -> None:
    payload = codec.encode("ms-000001", 7, 8, {"t": 1.5})
    with pytest.raises(PayloadError):
        codec.decode(payload + payload)


@pytest.mark.parametrize(
    "change",
    [
        {"id": 7},
        {"id": None},
        {"seq": "5"},
        {"seq": 5.0},
        {"seq": -5},
        {"seq": True},
        {"ts": [1, 2]},
        {"v": [1.5]},
        {"v": {"t": None}},
        {"v": {"t": {"deeper": 1}}},
        {"v": {"t": [1]}},
        {"extra": 1},
    ],
)
def test_wrong_types_and_keys_are_refused(
    map_codec: PayloadCodec, change: dict[str, object]
) -> None:
    message = valid_message() | change
    with pytest.raises(PayloadError):
        map_codec.decode(raw(map_codec, message))


@pytest.mark.parametrize("missing", ["id", "seq", "ts", "v"])
def test_missing_keys_are_refused_by_name(map_codec: PayloadCodec, missing: str) -> None:
    message = valid_message()
    del message[missing]
    with pytest.raises(PayloadError, match=f"missing '{missing}'"):
        map_codec.decode(raw(map_codec, message))


@pytest.mark.parametrize("top", [[1, 2], "text", 3, None, True])
def test_payloads_that_are_not_maps_are_refused(map_codec: PayloadCodec, top: object) -> None:
    with pytest.raises(PayloadError, match="must be a map"):
        map_codec.decode(raw(map_codec, top))


def test_deep_nesting_is_refused(map_codec: PayloadCodec) -> None:
    depth = 100_000
    with pytest.raises(PayloadError):
        map_codec.decode(raw(map_codec, valid_message())[:-1] + b"[" * depth)
    nested: object = 1
    for _ in range(500):
        nested = [nested]
    with pytest.raises(PayloadError):
        map_codec.decode(raw(map_codec, valid_message() | {"v": {"t": nested}}))


@given(data=st.binary(max_size=200))
def test_garbage_raises_only_payload_error(codec: PayloadCodec, data: bytes) -> None:
    try:
        decoded = codec.decode(data)
    except PayloadError:
        return
    assert isinstance(decoded, Telemetry)


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=20,
)


@given(
    obj=st.fixed_dictionaries(
        {},
        optional={
            "id": json_like,
            "seq": json_like,
            "ts": json_like,
            "v": json_like | st.dictionaries(st.text(max_size=4), json_like, max_size=4),
            "x": json_like,
        },
    )
    | json_like
)
def test_well_formed_bytes_with_any_content_raise_only_payload_error(
    map_codec: PayloadCodec, obj: object
) -> None:
    try:
        payload = raw(map_codec, obj)
    except (OverflowError, ValueError):
        return  # the raw writer itself cannot write it (an integer beyond 64 bits for msgpack)
    try:
        decoded = map_codec.decode(payload)
    except PayloadError:
        return
    assert isinstance(decoded, Telemetry)


@pytest.mark.parametrize("name", codec_names())
def test_get_codec_gives_each_caller_its_own_instance(name: str) -> None:
    first = get_codec(name)
    second = get_codec(name)
    assert first.name == second.name == name
    assert first.decode(second.encode("d", 1, 2, {"a": 1})) == ("d", 1, 2, {"a": 1})


messages_strategy = st.lists(
    st.tuples(st.text(max_size=12), u64, u64, values_strategy), min_size=1, max_size=6
)


def decoded_one_by_one(codec: PayloadCodec, payloads: list[bytes]) -> list[Telemetry] | None:
    try:
        return [codec.decode(payload) for payload in payloads]
    except PayloadError:
        return None


@given(messages=messages_strategy)
def test_decode_all_gives_what_decode_gives_or_none(
    codec: PayloadCodec, messages: list[tuple[str, int, int, dict[str, Value]]]
) -> None:
    """A run decoded together is decoded as each message alone, value types included; a codec
    that does not decode runs says None."""
    payloads = [codec.encode(*message) for message in messages]
    run = codec.decode_all(payloads)
    if run is None:
        return
    together = list(run)
    assert together == decoded_one_by_one(codec, payloads)
    assert [[type(v) for v in values.values()] for *_, values in together] == [
        [type(v) for v in values.values()] for *_, values in messages
    ]


@given(messages=messages_strategy, cuts=st.lists(st.integers(min_value=0), max_size=6))
def test_decode_all_never_reads_payloads_across_their_boundaries(
    codec: PayloadCodec, messages: list[tuple[str, int, int, dict[str, Value]]], cuts: list[int]
) -> None:
    """The bytes of well-formed messages cut at other places into as many payloads: put
    together again they read as well-formed, but each payload alone does not, so decode_all
    must not accept them."""
    stream = b"".join(codec.encode(*message) for message in messages)
    ends = sorted({cut % (len(stream) + 1) for cut in cuts})[: len(messages) - 1]
    bounds = [0, *ends, len(stream)]
    payloads = [stream[a:b] for a, b in pairwise(bounds)]
    together = codec.decode_all(payloads)
    if together is not None:
        assert list(together) == decoded_one_by_one(codec, payloads)


def test_decode_all_refuses_a_run_with_one_bad_payload(codec: PayloadCodec) -> None:
    good = [codec.encode("ms-000001", seq, 9, {"t": 1.5}) for seq in range(3)]
    first, second = good[0], good[1]
    for payloads in (
        [*good, b"\xc1"],  # msgpack's never-used byte; not JSON or protobuf either
        [first[:-1], first[-1:] + second],  # one message's last byte moved to the next
        [first + second[:1], second[1:]],  # and the other way
    ):
        assert codec.decode_all(payloads) is None
