"""The contract every device model keeps, run against each name in model_names()."""

from __future__ import annotations

import math
import sys
from typing import Any

import pytest

from simulator.errors import FleetConfigError, SimulatorError, UnknownModelError
from simulator.fleet import DeviceModel, get_model, model_names
from simulator.fleet.noise import unit
from simulator.payloads import codec_names, get_codec

MAX_STATE_BYTES = 200
STEPS_PER_SAMPLE = frozenset({"machine-sensor"})
"""Models whose Markov chain steps once per sample, not per unit of time."""


@pytest.fixture(params=model_names())
def model(request: pytest.FixtureRequest) -> DeviceModel:
    name: str = request.param
    return get_model(name)


def stream(model: DeviceModel, index: int, seed: int, count: int) -> list[dict[str, Any]]:
    state = model.new_state(index, seed)
    return [model.sample(state, seq, seq * 1.0) for seq in range(count)]


def state_bytes(state: object, other: object) -> int:
    """The object plus every slot value it does not share with ``other``, another device's state.

    Shared values (interpreter singletons such as small ints, a run's calendar) cost a device
    only its slot.
    """
    total = sys.getsizeof(state)
    for cls in type(state).__mro__:
        for slot in getattr(cls, "__slots__", ()):
            value = getattr(state, slot)
            cached_small_int = type(value) is int and -5 <= value <= 256
            shared = value is getattr(other, slot)
            if not (cached_small_int or shared or value is None or type(value) is bool):
                total += sys.getsizeof(value)
    return total


def test_unknown_model_names_the_allowed_ones() -> None:
    with pytest.raises(UnknownModelError) as info:
        get_model("robot-arm")
    assert isinstance(info.value, FleetConfigError)
    assert isinstance(info.value, SimulatorError)
    assert "robot-arm" in str(info.value)
    assert all(name in str(info.value) for name in model_names())


def test_models_are_shared_and_named_as_registered(model: DeviceModel) -> None:
    assert model.name in model_names()
    assert get_model(model.name) is model
    assert model.id_prefix
    assert model.signals


def test_same_seed_gives_the_same_stream(model: DeviceModel) -> None:
    assert stream(model, 3, 42, 1000) == stream(model, 3, 42, 1000)


def test_different_seeds_and_devices_give_different_streams(model: DeviceModel) -> None:
    reference = stream(model, 3, 42, 1000)
    assert stream(model, 3, 43, 1000) != reference
    assert stream(model, 4, 42, 1000) != reference


def test_keys_are_the_declared_signals_in_order(model: DeviceModel) -> None:
    for values in stream(model, 0, 1, 200):
        assert list(values) == list(model.signals)


def test_values_stay_in_their_declared_ranges(model: DeviceModel) -> None:
    # Irregular steps, long gaps and many devices: ranges must not depend on a steady rate.
    for index in range(8):
        state = model.new_state(index, 99)
        t_s = 0.0
        for seq in range(15_000):
            t_s += 0.1 + 30.0 * unit(99, index, seq) ** 4
            for key, value in model.sample(state, seq, t_s).items():
                assert model.signals[key].accepts(value), (key, value, index, seq)


def test_state_is_small_and_slotted(model: DeviceModel) -> None:
    state = model.new_state(123_456, 2**63 + 7)
    other = model.new_state(654_321, 2**63 + 7)
    assert not hasattr(state, "__dict__")
    for seq in range(2000):
        model.sample(state, seq, seq * 1.0)
        model.sample(other, seq, seq * 1.0)
    assert state_bytes(state, other) <= MAX_STATE_BYTES


def test_counters_never_decrease(model: DeviceModel) -> None:
    counters = [key for key, signal in model.signals.items() if signal.monotonic]
    for index in range(4):
        state = model.new_state(index, 5)
        last = dict.fromkeys(counters, -math.inf)
        t_s = 0.0
        for seq in range(20_000):
            t_s += 0.5 + 60.0 * unit(5, index, seq) ** 3
            values = model.sample(state, seq, t_s)
            for key in counters:
                value = float(values[key])
                assert value >= last[key], (key, index, seq)
                last[key] = value


@pytest.mark.parametrize("name", sorted(set(model_names()) - STEPS_PER_SAMPLE))
def test_regimes_follow_time_not_sampling(name: str) -> None:
    # Sampled every 10 s or every 70 s, a device is in the same state at the same moments:
    # event rates are per hour, not per message.
    model = get_model(name)
    fine = model.new_state(11, 8)
    fine_states = [model.sample(fine, seq, seq * 10.0)["state"] for seq in range(21_000)]
    coarse = model.new_state(11, 8)
    coarse_states = [model.sample(coarse, seq, seq * 70.0)["state"] for seq in range(3000)]
    assert coarse_states == fine_states[::7]
    assert len(set(coarse_states)) >= 3


@pytest.mark.parametrize("codec_name", ["msgpack", "json"])
def test_samples_survive_the_payload_codecs(model: DeviceModel, codec_name: str) -> None:
    codec = get_codec(codec_name)
    for seq, values in enumerate(stream(model, 2, 3, 300)):
        decoded = codec.decode(codec.encode("dev-000002", seq, 10**18 + seq, values))
        assert decoded.values == values


@pytest.mark.parametrize("codec_name", codec_names())
def test_samples_pass_the_message_check_the_engine_skips(
    model: DeviceModel, codec_name: str
) -> None:
    """The engine encodes samples with ``encode_sample``, which does not check them: every
    model's samples must pass ``encode``'s check and give the same bytes without it."""
    codec = get_codec(codec_name)
    for index in range(4):
        state = model.new_state(index, 17)
        t_s = 0.0
        for seq in range(3_000):
            t_s += 0.2 + 40.0 * unit(17, index, seq) ** 4
            values = model.sample(state, seq, t_s)
            checked = codec.encode(f"dev-{index:06d}", seq, 10**18 + seq, values)
            assert codec.encode_sample(f"dev-{index:06d}", seq, 10**18 + seq, values) == checked
