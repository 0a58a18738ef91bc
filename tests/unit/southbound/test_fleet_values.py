"""The served fleet: addressing by endpoint and unit id, and registers that are a pure function
of device, time and seed whatever order they are read in."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.fleet import PlantLayout, get_model
from simulator.scenario.composition import Group
from simulator.southbound.fleet_values import ServedFleet, sample_at, step_at
from simulator.southbound.modbus import ExceptionCode
from simulator.southbound.register_map import RegisterEncoder, register_map

PLANT = PlantLayout(2, 2)
GROUPS = (
    Group("cnc-machine", "msgpack", 1.0, 0, 5),
    Group("power-meter", "msgpack", 2.0, 5, 4),
)


def fleet(**options: Any) -> ServedFleet:
    return ServedFleet(GROUPS, PLANT, seed=9, devices_per_endpoint=3, **options)


def truth(model: str, index: int, step: int, update_s: float) -> bytes:
    encoder = RegisterEncoder(register_map(get_model(model)))
    return encoder.encode(sample_at(get_model(model), index, 9, step, update_s))


def test_devices_are_dealt_to_unit_ids_then_endpoints() -> None:
    served = fleet()
    assert served.endpoints == 3
    assert [served.device_at(e, u) for e in range(3) for u in (1, 2, 3)] == [
        0, 1, 2, 3, 4, 5, 6, 7, 8,
    ]  # fmt: skip
    assert served.device_at(0, 0) is None
    assert served.device_at(0, 4) is None
    assert served.device_at(3, 1) is None
    devices = list(served)
    assert [(d.endpoint, d.unit_id) for d in devices[4:6]] == [(1, 2), (1, 3)]
    assert [d.model for d in devices] == ["cnc-machine"] * 5 + ["power-meter"] * 4
    assert devices[5].device_id == "pm-000005"
    assert devices[5].update_s == 2.0


def test_registers_are_the_models_sample_for_the_step_in_any_read_order() -> None:
    served = fleet()
    # Forward, repeated, skipping ahead, then back in time: always the ground truth.
    for t_s in (0.0, 0.4, 1.0, 7.5, 7.9, 30.0, 3.0, 0.0):
        for index, model, update_s in ((1, "cnc-machine", 1.0), (6, "power-meter", 2.0)):
            step = step_at(t_s, update_s)
            assert served.registers(index, t_s) == truth(model, index, step, update_s), t_s


def test_update_s_overrides_the_groups_interval() -> None:
    served = fleet(update_s=0.5)
    assert served.registers(6, 3.0) == truth("power-meter", 6, 6, 0.5)


def test_steps_floor_time_without_float_surprises() -> None:
    assert step_at(3.0, 0.1) == 30
    assert step_at(2.999, 1.0) == 2
    assert step_at(-5.0, 1.0) == 0


def test_a_read_gets_a_slice_or_says_why_not() -> None:
    served = fleet()
    size = register_map(get_model("cnc-machine")).size
    assert served.read(0, 2, 3, 4, 10.0) == truth("cnc-machine", 1, 10, 1.0)[6:14]
    assert served.read(0, 2, size - 1, 1, 10.0) == truth("cnc-machine", 1, 10, 1.0)[-2:]
    assert served.read(0, 2, size - 1, 2, 10.0) is ExceptionCode.ILLEGAL_DATA_ADDRESS
    assert served.read(0, 9, 0, 1, 10.0) is ExceptionCode.GATEWAY_TARGET_FAILED


def test_bad_settings_are_value_errors() -> None:
    with pytest.raises(ValueError, match=r"1\.\.247"):
        ServedFleet(GROUPS, PLANT, seed=1, devices_per_endpoint=248)
    with pytest.raises(ValueError, match="update_s"):
        ServedFleet(GROUPS, PLANT, seed=1, devices_per_endpoint=1, update_s=0.0)
