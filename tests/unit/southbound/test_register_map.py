"""Register maps: every signal of every model has its place, without overlap, and the bytes
served are the map's encoding of the sample (both word orders)."""

from __future__ import annotations

import math
import struct

import pytest

from simulator.errors import InvalidArgumentError
from simulator.fleet import Signal, get_model, model_names
from simulator.southbound.register_map import (
    RegisterEncoder,
    RegisterField,
    RegisterType,
    field_for,
    register_map,
)


@pytest.mark.parametrize("name", model_names())
def test_the_map_covers_every_signal_once_without_overlap(name: str) -> None:
    model = get_model(name)
    fields = register_map(model).fields
    assert [f.signal for f in fields] == list(model.signals)
    taken: set[int] = set()
    for field in fields:
        span = set(range(field.address, field.address + field.count))
        assert not span & taken, field
        taken |= span
    assert taken == set(range(register_map(model).size))


@pytest.mark.parametrize("name", model_names())
def test_every_value_of_a_model_fits_its_field(name: str) -> None:
    model = get_model(name)
    state = model.new_state(5, 11)
    fields = register_map(model).fields
    for seq in range(200):
        sample = model.sample(state, seq, seq * 60.0)
        for field in fields:
            value = sample[field.signal]
            raw = field.raw(value)
            if field.codes:
                assert field.value(raw) == value
            elif field.type is RegisterType.FLOAT32:
                assert raw == pytest.approx(value, rel=1e-6)
            else:
                signal = model.signals[field.signal]
                # A scaled register is off by at most half its resolution inside the range.
                assert isinstance(value, int | float)
                decoded = field.value(raw)
                assert isinstance(decoded, int | float)
                if signal.low <= value <= signal.high and not signal.monotonic:
                    assert abs(decoded - value) <= 0.5 / field.scale + 1e-9, field


def test_types_and_scales_follow_the_signals() -> None:
    state = Signal("", choices=("a", "b"))
    assert field_for("s", state, 0, integer=False) == RegisterField(
        "s", 0, RegisterType.UINT16, codes=("a", "b")
    )
    assert field_for("t", Signal("°C", 18, 90), 1, integer=False).scale == 100
    assert field_for("f", Signal("Hz", 49.8, 50.2), 1, integer=False).scale == 1000
    torque = field_for("n", Signal("Nm", -360, 360), 1, integer=False)
    assert (torque.type, torque.scale) == (RegisterType.INT16, 10)
    counter = field_for("c", Signal("parts", 0, math.inf, monotonic=True), 1, integer=True)
    assert counter.type is RegisterType.UINT32
    assert field_for("e", Signal("kWh", 0, math.inf), 1, integer=False).type is (
        RegisterType.FLOAT32
    )
    assert field_for("code", Signal("", 0, 9999), 1, integer=True).type is RegisterType.UINT16
    assert field_for("x", Signal("", -1e9, 1e9), 1, integer=False).type is RegisterType.FLOAT32


def test_raw_values_are_rounded_clamped_and_counters_wrap() -> None:
    temperature = RegisterField("t", 0, RegisterType.UINT16, 100)
    assert temperature.raw(21.456) == 2146
    assert temperature.raw(-0.001) == 0
    assert temperature.raw(1000.0) == 0xFFFF
    assert RegisterField("c", 0, RegisterType.UINT32).raw(2**32 + 5) == 5
    assert RegisterField("n", 0, RegisterType.INT16, 10).raw(-12.34) == -123


def test_word_order_decides_which_register_of_a_32_bit_value_comes_first() -> None:
    model = get_model("power-meter")
    sample = model.sample(model.new_state(0, 1), 0, 0.0)
    fields = {f.signal: f for f in register_map(model).fields}
    big = RegisterEncoder(register_map(model), "big").encode(sample)
    little = RegisterEncoder(register_map(model), "little").encode(sample)
    energy = fields["energy_kwh"]
    at = 2 * energy.address
    assert big[at : at + 4] == struct.pack(">f", sample["energy_kwh"])
    assert little[at : at + 4] == big[at + 2 : at + 4] + big[at : at + 2]
    voltage = fields["voltage_l1_v"]
    at = 2 * voltage.address
    assert (
        big[at : at + 2]
        == little[at : at + 2]
        == struct.pack(">H", voltage.raw(sample["voltage_l1_v"]))
    )
    with pytest.raises(InvalidArgumentError):
        RegisterEncoder(register_map(model), "middle")  # type: ignore[arg-type]


def test_the_map_as_json_names_codes_and_units() -> None:
    rows = register_map(get_model("machine-sensor")).to_json()
    assert rows[0] == {
        "signal": "temperature_c",
        "address": 0,
        "registers": 1,
        "type": "uint16",
        "scale": 100,
        "unit": "°C",
    }
    assert rows[-1]["codes"] == {0: "running", 1: "idle", 2: "alarm"}


_FORMATS = {"uint16": ">H", "int16": ">h", "uint32": ">I", "int32": ">i", "float32": ">f"}


@pytest.mark.parametrize("name", model_names())
def test_the_encoder_writes_each_fields_raw_number_even_out_of_range(name: str) -> None:
    model = get_model(name)
    fields = register_map(model).fields
    state = model.new_state(2, 4)
    samples = [model.sample(state, seq, seq * 90.0) for seq in range(50)]
    # Values past a field's range are clamped (16 bits) or wrapped (counters), never garbage.
    wild = dict(samples[-1])
    for field in fields:
        if not field.codes:
            wild[field.signal] = 1e7 if field.address % 2 else -1e7
    for sample in [*samples, wild]:
        encoded = RegisterEncoder(register_map(model)).encode(sample)
        for field in fields:
            at = 2 * field.address
            (number,) = struct.unpack(
                _FORMATS[field.type.value], encoded[at : at + 2 * field.count]
            )
            raw = field.raw(sample[field.signal])
            if field.type is RegisterType.FLOAT32:
                assert number == pytest.approx(raw, rel=1e-6)
            else:
                assert number == raw, (field, sample[field.signal])
