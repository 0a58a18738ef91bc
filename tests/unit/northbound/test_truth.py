"""The ground truth and what "equal" means: the same register number after the map's scaling,
correct within the allowed staleness, stale before it, wrong otherwise."""

from __future__ import annotations

import pytest

from simulator.errors import InvalidArgumentError
from simulator.fleet import PlantLayout, get_model
from simulator.northbound.truth import GroundTruth, RegisterValues, as_float32, same_value
from simulator.scenario.composition import Group
from simulator.southbound.fleet_values import ServedFleet
from simulator.southbound.node_values import NodeValues
from simulator.southbound.register_map import RegisterField, RegisterType, register_map
from simulator.southbound.samples import model_blocks, sample_at

SCALED = RegisterField("t", 0, RegisterType.UINT16, scale=1000)
FLOAT = RegisterField("e", 0, RegisterType.FLOAT32)
STATE = RegisterField("s", 0, RegisterType.UINT16, codes=("idle", "running"))
COUNTER = RegisterField("c", 0, RegisterType.UINT32)
CNC_MAP = register_map(get_model("cnc-machine"))


def test_a_scaled_value_is_equal_when_it_names_the_same_register_number() -> None:
    assert same_value(SCALED, 12.345, 12345)
    assert same_value(SCALED, 12345 * 0.001, 12345)  # 12.345000000000001
    assert not same_value(SCALED, 12.346, 12345)
    assert not same_value(SCALED, 123.45, 12345)  # a gateway dividing by 100, not 1000
    assert not same_value(SCALED, "12.345", 12345)
    assert not same_value(SCALED, float("nan"), 12345)


def test_a_float32_is_equal_when_it_rounds_to_the_register_float() -> None:
    register = as_float32(255973.37)
    assert same_value(FLOAT, register, register)
    assert same_value(FLOAT, 255973.37, register)  # a gateway printing the shortest decimal
    assert not same_value(FLOAT, 255973.4, register)


def test_a_state_is_its_name_or_its_code_and_a_bool_is_never_a_number() -> None:
    assert same_value(STATE, "running", 1)
    assert same_value(STATE, 1, 1)
    assert not same_value(STATE, "idle", 1)
    assert not same_value(STATE, True, 1)
    assert same_value(COUNTER, 70000, 70000)
    assert not same_value(COUNTER, 70000.5, 70000)
    assert not same_value(COUNTER, None, 70000)


@pytest.fixture
def truth() -> GroundTruth:
    fleet = ServedFleet(
        (Group("cnc-machine", "json", 1.0, 0, 2),),
        PlantLayout(1, 1),
        seed=9,
        devices_per_endpoint=2,
    )
    return GroundTruth(RegisterValues(fleet), max_staleness_s=1.0, lookback_s=10.0)


def moving(truth: GroundTruth) -> tuple[int, int]:
    """A field of device 0 and a step at which its value changes, and differs from the
    three steps before."""
    for step in range(20, 40):
        now = truth.numbers_at(0, step + 0.5)
        before = [truth.numbers_at(0, step - k + 0.5) for k in (1, 2, 3)]
        for position, number in enumerate(now):
            if (
                all(b[position] != number for b in before)
                and before[0][position] != before[1][position]
            ):
                return position, step
    raise AssertionError("no moving signal")


def test_a_value_is_correct_within_the_staleness_stale_before_and_wrong_when_never(
    truth: GroundTruth,
) -> None:
    position, step = moving(truth)
    field = CNC_MAP.fields[position]
    now = truth.numbers_at(0, step + 0.5)[position]
    old = truth.numbers_at(0, step - 2 + 0.5)[position]
    value = field.value(now)
    match = truth.match(0, position, value, step + 0.2)
    assert (match.verdict, match.step, match.changed_step) == ("correct", step, step)
    # The previous step's value, 0.5 s after it ended: still within 1 s of being true.
    previous = field.value(truth.numbers_at(0, step - 1 + 0.5)[position])
    assert truth.match(0, position, previous, step + 0.5).verdict == "correct"
    # Two steps old at 1.5 s past its end: stale.
    assert truth.match(0, position, field.value(old), step + 1.5).verdict == "stale"
    assert truth.match(0, position, -1, step + 1.5).verdict == "wrong"


def test_a_value_older_than_the_lookback_is_wrong(truth: GroundTruth) -> None:
    position, step = moving(truth)
    field = CNC_MAP.fields[position]
    value = field.value(truth.numbers_at(0, step + 0.5)[position])
    fresh = {truth.numbers_at(0, step + 500.5 - k)[position] for k in (0, 1)}
    later = truth.match(0, position, value, step + 500.5)
    # It matches an old step but no step within the 10 s kept: wrong, not stale (unless the
    # signal came back to the same number now, which makes it correct).
    assert later.verdict == ("correct" if field.raw(value) in fresh else "wrong")


def test_a_device_served_over_opcua_only_is_checked_by_its_node_values() -> None:
    """Devices 0 and 1 over Modbus, 2 and 3 over OPC UA only: a value rounded to the
    register's resolution is correct on a Modbus device and wrong on an OPC UA one, whose
    truth is the Double itself."""
    groups = (Group("power-meter", "json", 1.0, 0, 4),)
    layout = PlantLayout(1, 1)
    modbus = ServedFleet(groups[:1], layout, seed=9, devices_per_endpoint=4)
    modbus_part = ServedFleet(
        (Group("power-meter", "json", 1.0, 0, 2),), layout, seed=9, devices_per_endpoint=4
    )
    nodes = NodeValues(model_blocks(groups, layout, None), 9, range(2, 4))
    truth = GroundTruth([nodes, RegisterValues(modbus_part)], max_staleness_s=1.0, lookback_s=10.0)
    assert truth.devices == 4
    assert [truth.device_id(i) for i in range(4)] == [f"pm-00000{i}" for i in range(4)]
    position = truth.signals(0).index("voltage_l1_v")
    for index in range(4):
        exact = sample_at(get_model("power-meter"), index, 9, 5, 1.0)["voltage_l1_v"]
        assert isinstance(exact, float)
        rounded = round(exact, 2)  # the register's resolution (scale 100)
        assert rounded != exact
        assert modbus.map_of(index).fields[position].scale == 100
        assert truth.match(index, position, exact, 5.5).verdict == "correct"
        verdict = truth.match(index, position, rounded, 5.5).verdict
        assert verdict == ("correct" if index < 2 else "wrong"), index


def test_the_sources_must_cover_the_fleet_from_its_first_device() -> None:
    layout = PlantLayout(1, 1)
    nodes = NodeValues(
        model_blocks((Group("robot", "json", 1.0, 0, 4),), layout, None), 9, range(2, 4)
    )
    with pytest.raises(InvalidArgumentError, match="one starts at 2, not 0"):
        GroundTruth(nodes, max_staleness_s=1.0, lookback_s=10.0)
