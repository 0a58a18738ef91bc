"""The msgpack codec reads a message through msgspec first and through ``unpackb`` plus
:func:`telemetry_from_map` only when msgspec refuses it. Both paths must give one verdict: the
same message, or a refusal. Checked here on arbitrary MessagePack documents shaped like a
message, close calls included (a wrong type, a negative number, a fifth key, nesting)."""

from __future__ import annotations

import math

import msgpack
from hypothesis import given
from hypothesis import strategies as st

from simulator.errors import PayloadError
from simulator.payloads import get_codec
from simulator.payloads.short_map import telemetry_from_map

CODEC = get_codec("msgpack")


signal_values = st.one_of(
    st.booleans(),
    st.integers(min_value=-(1 << 63), max_value=(1 << 64) - 1),
    st.floats(),
    st.text(max_size=8),
)
scalars = st.one_of(signal_values, st.binary(max_size=4), st.none())
values = st.one_of(scalars, st.lists(scalars, max_size=2))
u64 = st.integers(min_value=0, max_value=(1 << 64) - 1)
valid = st.fixed_dictionaries(
    {
        "id": st.text(max_size=8),
        "seq": u64,
        "ts": u64,
        "v": st.dictionaries(st.text(max_size=6), signal_values, max_size=4),
    }
)


@st.composite
def messages(draw: st.DrawFn) -> object:
    """A valid message, or one with a single thing wrong: a field, a key or a signal."""
    drawn: dict[str, object] = draw(valid)
    message: dict[object, object] = dict(drawn.items())
    change = draw(st.sampled_from(["none", "field", "drop", "add", "signal", "whole"]))
    if change == "field":
        message[draw(st.sampled_from(["id", "seq", "ts", "v"]))] = draw(
            st.one_of(values, st.integers(min_value=-(1 << 63), max_value=-1))
        )
    elif change == "drop":
        del message[draw(st.sampled_from(["id", "seq", "ts", "v"]))]
    elif change == "add":
        message[draw(st.one_of(st.text(max_size=3), st.integers(0, 3)))] = draw(values)
    elif change == "signal":
        signals = message["v"]
        assert isinstance(signals, dict)
        signals[draw(st.one_of(st.text(max_size=3), st.integers(0, 3)))] = draw(values)
    elif change == "whole":
        return draw(values)
    return message


def slow_verdict(data: bytes) -> object:
    try:
        return tuple(telemetry_from_map(msgpack.unpackb(data, strict_map_key=False)))
    except (PayloadError, ValueError, TypeError):
        return "refused"


def verdict(data: bytes) -> object:
    try:
        return tuple(CODEC.decode(data))
    except PayloadError:
        return "refused"


def same(a: object, b: object) -> bool:
    """Equal, taking a NaN signal as equal to itself."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        return (
            a[:3] == b[:3]
            and a[3].keys() == b[3].keys()
            and all(
                x == y or (isinstance(x, float) and math.isnan(x) and math.isnan(y))
                for x, y in zip(a[3].values(), b[3].values(), strict=True)
            )
        )
    return a == b


@given(messages())
def test_both_paths_give_one_verdict(message: object) -> None:
    data = msgpack.packb(message, use_bin_type=True)
    fast, slow = verdict(data), slow_verdict(data)
    assert same(fast, slow), (message, fast, slow)


@given(messages(), st.sampled_from([b"", b"\x00", b"\xc1"]), st.integers(0, 3))
def test_both_paths_refuse_trailing_or_truncated_bytes(
    message: object, tail: bytes, cut: int
) -> None:
    data = msgpack.packb(message, use_bin_type=True) + tail
    if cut:
        data = data[:-cut]
    fast, slow = verdict(data), slow_verdict(data)
    assert same(fast, slow), (data, fast, slow)


def test_a_message_the_fast_path_takes_comes_back_exactly() -> None:
    values: dict[str, float | int | str | bool] = {
        "t": 21.5,
        "n": -3,
        "big": (1 << 64) - 1,
        "on": True,
        "state": "run",
    }
    data = CODEC.encode("ms-000001", 7, 1_800_000_000_000_000_000, values)
    assert tuple(CODEC.decode(data)) == ("ms-000001", 7, 1_800_000_000_000_000_000, values)
    assert type(CODEC.decode(data).values["on"]) is bool


@given(valid)
def test_encoding_writes_the_bytes_msgpack_itself_writes(message: dict[str, object]) -> None:
    """The codec packs with msgspec; any decoder must see what msgpack's own Packer
    (``use_bin_type``, str as text) would have written: the same bytes, floats, the ends of
    the 64-bit ranges and long strings (str8 and str16) included."""
    device_id, seq, ts_ns, signals = (message[key] for key in ("id", "seq", "ts", "v"))
    ordered = {"id": device_id, "seq": seq, "ts": ts_ns, "v": signals}  # the codec's key order
    expected = msgpack.packb(ordered, use_bin_type=True)
    assert CODEC.encode(device_id, seq, ts_ns, signals) == expected  # type: ignore[arg-type]
    assert CODEC.encode_sample(device_id, seq, ts_ns, signals) == expected  # type: ignore[arg-type]
