"""What the OPC UA servers show, as the check's truth: each device's model sample at a step,
``Double`` exactly, ``Int64``, a state's name; and what a published value must be to equal it."""

from __future__ import annotations

import pytest

from simulator.fleet import PlantLayout
from simulator.scenario.composition import Group
from simulator.southbound.node_map import NodeField, NodeType, node_map
from simulator.southbound.node_values import NodeValues, node_number, node_value
from simulator.southbound.samples import model_blocks, sample_at

DOUBLE = NodeField("t", NodeType.DOUBLE, "°C")
COUNT = NodeField("c", NodeType.INT64)
STATE = NodeField("s", NodeType.STRING, choices=("idle", "running"))

GROUPS = (Group("cnc-machine", "json", 1.0, 0, 3), Group("power-meter", "json", 0.5, 3, 2))


def test_a_double_equals_only_the_same_double() -> None:
    assert node_number(DOUBLE, 21.371234567) == 21.371234567
    assert node_number(DOUBLE, 21) == 21.0
    assert node_number(DOUBLE, 21.37) != 21.371234567  # rounded by the gateway: not equal
    assert node_number(DOUBLE, "21.3") is None
    assert node_number(DOUBLE, float("nan")) is None
    assert node_number(DOUBLE, True) is None


def test_an_int64_is_an_integer_and_a_state_its_name_only() -> None:
    assert node_number(COUNT, 70000) == 70000
    assert node_number(COUNT, 70000.0) == 70000
    assert node_number(COUNT, 70000.5) is None
    assert node_number(STATE, "running") == 1
    assert node_number(STATE, 1) is None  # the node holds the name, not a code
    assert node_number(STATE, "stopped") is None
    assert node_value(STATE, 1) == "running"
    assert node_value(DOUBLE, 2.5) == 2.5


@pytest.mark.parametrize("step", [0, 1, 7, 40])
def test_the_numbers_are_the_models_sample_at_the_step_as_the_nodes_hold_it(step: int) -> None:
    blocks = model_blocks(GROUPS, PlantLayout(1, 1), None)
    shown = NodeValues(blocks, seed=5, devices=range(1, 5))
    for index, block in ((1, blocks[0]), (4, blocks[1])):
        sample = sample_at(block.model, index, 5, step, block.update_s)
        fields = node_map(block.model).fields
        numbers = shown.numbers(index, step)
        for position, field in enumerate(fields):
            assert shown.expected(index, position, numbers[position]) == sample[field.signal]
            assert node_number(field, sample[field.signal]) == numbers[position]
        assert shown.signals(index) == tuple(f.signal for f in fields)
    assert shown.device_id(4) == "pm-000004"
    assert shown.update_s_of(4) == 0.5


def test_asking_out_of_order_gives_the_same_numbers_as_asking_in_order() -> None:
    blocks = model_blocks(GROUPS, PlantLayout(1, 1), 1.0)
    forward = NodeValues(blocks, seed=5, devices=range(5))
    wanted = [forward.numbers(2, step) for step in range(12)]
    jumping = NodeValues(blocks, seed=5, devices=range(5))
    assert [jumping.numbers(2, step) for step in (11, 3, 0, 7)] == [
        wanted[s] for s in (11, 3, 0, 7)
    ]
