"""The onboarding exchange's JSON: round trips, correlation data, and every malformed input."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.errors import PayloadError
from simulator.payloads.registration import (
    ACCEPTED,
    LEFT,
    LOST,
    REJECTED,
    Answer,
    Death,
    Registration,
    capabilities_of,
    correlation_for,
    decode_answer,
    decode_death,
    decode_registration,
    encode_answer,
    encode_death,
    encode_registration,
    index_of,
)

REG = Registration(
    device_id="ms-000042",
    model="machine-sensor",
    firmware="fsim-1.0.0",
    capabilities=("power_w", "temperature_c"),
    t0_ns=1_700_000_000_123_456_789,
    reply_to="onboarding/gw-0001/config",
    correlation=correlation_for(42),
)


def edited(encoded: bytes, changes: dict[str, Any]) -> bytes:
    """A JSON body with keys set to new values, or removed where the value is ``...``."""
    body = json.loads(encoded)
    for key, value in changes.items():
        if value is ...:
            del body[key]
        else:
            body[key] = value
    return json.dumps(body).encode()


def registration_body(**changes: Any) -> bytes:
    return edited(encode_registration(REG), changes)


def answer_body(**changes: Any) -> bytes:
    return edited(encode_answer(Answer("ms-000042", ACCEPTED, correlation_for(42))), changes)


# round trips

text = st.text(min_size=1, max_size=12)


registrations = st.builds(
    Registration,
    device_id=text,
    model=text,
    firmware=text,
    capabilities=st.lists(st.text(max_size=8), max_size=4).map(tuple),
    t0_ns=st.integers(min_value=-(2**70), max_value=2**70),
    reply_to=text,
    correlation=st.binary(max_size=8),
    gateway=st.none() | text,
)


@given(registrations)
def test_registration_round_trips(reg: Registration) -> None:
    assert decode_registration(encode_registration(reg)) == reg


def test_registration_without_gateway_leaves_the_key_out() -> None:
    body = json.loads(encode_registration(REG))
    assert "gateway" not in body
    assert body["correlation"] == "0000002a"
    assert body["reply_to"] == REG.reply_to
    assert decode_registration(encode_registration(REG)).gateway is None


def test_registration_behind_a_gateway_names_it() -> None:
    reg = Registration(
        "ms-000042", "machine-sensor", "fsim-1.0.0", (), 5, "r", b"\x00\x01", "gw-0001"
    )
    assert json.loads(encode_registration(reg))["gateway"] == "gw-0001"
    assert decode_registration(encode_registration(reg)) == reg


def test_missing_capabilities_read_as_none() -> None:
    assert decode_registration(registration_body(capabilities=...)).capabilities == ()


@given(
    device_id=text,
    status=st.sampled_from([ACCEPTED, REJECTED]),
    correlation=st.binary(max_size=8),
    reason=st.none() | st.text(max_size=12),
    config=st.dictionaries(
        st.text(max_size=5),
        st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=5),
        max_size=4,
    ),
)
def test_answer_round_trips(
    device_id: str, status: str, correlation: bytes, reason: str | None, config: dict[str, Any]
) -> None:
    answer = Answer(device_id, status, correlation, reason, config)
    decoded = decode_answer(encode_answer(answer))
    assert decoded == answer
    assert decoded.accepted is (status == ACCEPTED)


def test_answer_leaves_out_reason_and_config_when_absent() -> None:
    body = json.loads(encode_answer(Answer("d", ACCEPTED, b"\x00\x00\x00\x07")))
    assert body == {"device_id": "d", "status": "accepted", "correlation": "00000007"}


def test_refusal_carries_its_reason() -> None:
    refusal = Answer("d", REJECTED, b"\x01", "not on the list")
    decoded = decode_answer(encode_answer(refusal))
    assert decoded.reason == "not on the list"
    assert not decoded.accepted


def test_decode_answer_prefers_the_mqtt5_correlation_over_the_body() -> None:
    data = encode_answer(Answer("d", ACCEPTED, correlation_for(1)))
    assert decode_answer(data).correlation == correlation_for(1)
    assert decode_answer(data, correlation_for(9)).correlation == correlation_for(9)
    # With the property present, the body needs none.
    assert decode_answer(answer_body(correlation=...), b"\x00\x00\x00\x03").correlation == (
        b"\x00\x00\x00\x03"
    )
    with pytest.raises(PayloadError, match="correlation"):
        decode_answer(answer_body(correlation=...))


def test_capabilities_are_the_sorted_signal_names() -> None:
    assert capabilities_of({"b": 1, "a": 2}) == ("a", "b")
    assert capabilities_of(["z", "y"]) == ("y", "z")


# correlation data


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_correlation_round_trips_every_index(index: int) -> None:
    correlation = correlation_for(index)
    assert len(correlation) == 4
    assert index_of(correlation) == index


def test_correlation_is_big_endian() -> None:
    assert correlation_for(1) == b"\x00\x00\x00\x01"
    assert correlation_for(0x01020304) == b"\x01\x02\x03\x04"


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x00\x00\x01", b"\x00\x00\x00\x00\x01"])
def test_correlation_of_the_wrong_length_is_refused(data: bytes) -> None:
    with pytest.raises(PayloadError, match=f"got {len(data)}"):
        index_of(data)


# malformed registrations


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe\x00", "not JSON"),
        (b"", "not JSON"),
        (b"[1, 2]", "object"),
        (b'"text"', "object"),
        (b"null", "object"),
        (registration_body(device_id=...), "device_id"),
        (registration_body(device_id=""), "device_id"),
        (registration_body(device_id=7), "device_id"),
        (registration_body(model=...), "model"),
        (registration_body(model=""), "model"),
        (registration_body(firmware=...), "firmware"),
        (registration_body(firmware=None), "firmware"),
        (registration_body(reply_to=...), "reply_to"),
        (registration_body(reply_to=""), "reply_to"),
        (registration_body(correlation=...), "correlation"),
        (registration_body(correlation=42), "correlation"),
        (registration_body(correlation="zz"), "correlation"),
        (registration_body(correlation="abc"), "correlation"),
        (registration_body(capabilities="power"), "capabilities"),
        (registration_body(capabilities=["power", 3]), "capabilities"),
        (registration_body(capabilities={"power": 1}), "capabilities"),
        (registration_body(t0_ns=...), "t0_ns"),
        (registration_body(t0_ns=True), "t0_ns"),
        (registration_body(t0_ns=1.5), "t0_ns"),
        (registration_body(t0_ns=1e18), "t0_ns"),
        (registration_body(t0_ns="123"), "t0_ns"),
        (registration_body(gateway=5), "gateway"),
    ],
)
def test_malformed_registration_is_a_payload_error(data: bytes, match: str) -> None:
    with pytest.raises(PayloadError, match=match):
        decode_registration(data)


# malformed answers


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"{", "not JSON"),
        (b"\x80", "not JSON"),
        (b"42", "object"),
        (b"[]", "object"),
        (answer_body(device_id=...), "device_id"),
        (answer_body(device_id=""), "device_id"),
        (answer_body(status=...), "status"),
        (answer_body(status=""), "status"),
        (answer_body(status="ACCEPTED"), "status"),
        (answer_body(status="maybe"), "status"),
        (answer_body(status=1), "status"),
        (answer_body(reason=3), "reason"),
        (answer_body(config=[1]), "config"),
        (answer_body(config="x=1"), "config"),
        (answer_body(correlation="g0"), "correlation"),
        (answer_body(correlation=None), "correlation"),
    ],
)
def test_malformed_answer_is_a_payload_error(data: bytes, match: str) -> None:
    with pytest.raises(PayloadError, match=match):
        decode_answer(data)


def test_bad_status_is_refused_even_with_the_correlation_property() -> None:
    with pytest.raises(PayloadError, match="status"):
        decode_answer(answer_body(status="pending"), correlation_for(1))


# deaths

DEATH = Death(("ms-000001", "ms-000002"), "gw-00000", LOST, 1_700_000_000_123)


def death_body(**changes: Any) -> bytes:
    return edited(encode_death(DEATH), changes)


@given(
    st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=5),
    st.none() | st.text(min_size=1, max_size=12),
    st.sampled_from([LEFT, LOST]),
    st.integers(min_value=0, max_value=2**53),
)
def test_death_round_trips(devices: list[str], gateway: str | None, reason: str, ts: int) -> None:
    death = Death(tuple(devices), gateway, reason, ts)
    assert decode_death(encode_death(death)) == death


def test_death_of_a_direct_device_leaves_the_gateway_out() -> None:
    body = json.loads(encode_death(Death(("ms-000007",), None, LEFT, 5)))
    assert body == {"devices": ["ms-000007"], "reason": "disconnect", "ts_ms": 5}


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"{", "not JSON"),
        (b"[]", "object"),
        (death_body(devices=...), "devices"),
        (death_body(devices=[]), "devices"),
        (death_body(devices="ms-1"), "devices"),
        (death_body(devices=["ms-1", ""]), "devices"),
        (death_body(devices=[3]), "devices"),
        (death_body(reason=...), "reason"),
        (death_body(reason="asleep"), "reason"),
        (death_body(gateway=5), "gateway"),
        (death_body(ts_ms=...), "ts_ms"),
        (death_body(ts_ms=True), "ts_ms"),
        (death_body(ts_ms=1.5), "ts_ms"),
    ],
)
def test_malformed_death_is_a_payload_error(data: bytes, match: str) -> None:
    with pytest.raises(PayloadError, match=match):
        decode_death(data)


# whatever arrives off the network


@given(st.binary(max_size=64))
def test_arbitrary_bytes_raise_only_payload_error(data: bytes) -> None:
    for decode in (decode_registration, decode_answer, decode_death):
        with contextlib.suppress(PayloadError):
            decode(data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)


KEYS = [
    *json.loads(encode_registration(REG)),
    "gateway",
    "status",
    "reason",
    "config",
    "devices",
    "ts_ms",
]


@given(st.dictionaries(st.sampled_from(KEYS), json_values))
def test_arbitrary_json_objects_raise_only_payload_error(body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    for decode in (decode_registration, decode_answer, decode_death):
        with contextlib.suppress(PayloadError):
            decode(data)


@pytest.mark.parametrize("decode", [decode_registration, decode_answer, decode_death])
def test_deeply_nested_json_is_a_payload_error(decode: Any) -> None:
    # A device (or anyone allowed to publish there) controls these bytes; a nesting deeper
    # than the interpreter's recursion limit must not escape as RecursionError.
    with pytest.raises(PayloadError):
        decode(b"[" * 100_000)


def test_a_registration_may_say_where_its_telemetry_goes() -> None:
    placed = dataclasses.replace(REG, topic="factory/site-01/line-02/ms-000042/telemetry")
    assert decode_registration(encode_registration(placed)) == placed
    assert decode_registration(encode_registration(REG)).topic is None
    with pytest.raises(PayloadError, match="topic"):
        decode_registration(registration_body(topic=7))
