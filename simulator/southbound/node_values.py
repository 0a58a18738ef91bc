"""What the OPC UA servers show, as numbers a published value is compared with.

Pure: no clock, no I/O, no asyncua. Device ``i`` at step ``k`` shows its model's sample
(:func:`~simulator.southbound.samples.advance`, the same ground truth Modbus shows) as one
variable per signal (:mod:`~simulator.southbound.node_map`): a ``Double`` holding the model's
float exactly, an ``Int64`` holding the integer, a ``String`` holding the state's name.

**Equal means the same OPC UA value.** Nothing quantises a node's value, so a published value
is equal when it is that value: a number equal to the ``Double`` (JSON's shortest decimal of a
double reads back as the same double, so a gateway that passes the value on unchanged is
exact; one that rounds, scales or narrows it to a float32 is not), an integer (or an integral
float) equal to the ``Int64``, or the state's name (the string the node holds; its position in
the choices is what is compared).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from simulator.errors import InvalidArgumentError
from simulator.fleet import SampleValue
from simulator.southbound.node_map import NodeField, NodeMap, NodeType, node_map
from simulator.southbound.samples import ModelBlock, advance

Number = int | float
"""A value as the truth keeps it: the number, or a state's position in its choices."""


def node_number(field: NodeField, got: object) -> Number | None:
    """The node value a published ``got`` names for ``field``, as a number, or None if it
    names none (a bool, NaN, a string for a number, a fraction for an ``Int64``, a name that
    is not one of the state's)."""
    if isinstance(got, bool):
        return None
    if field.type is NodeType.STRING:
        return field.choices.index(got) if isinstance(got, str) and got in field.choices else None
    if not isinstance(got, int | float) or not math.isfinite(got):
        return None
    if field.type is NodeType.DOUBLE:
        return float(got)
    if isinstance(got, float):
        return int(got) if got.is_integer() else None
    return got


def node_value(field: NodeField, number: Number) -> SampleValue:
    """What the node shows for the number ``number`` (a state's name for its position)."""
    if field.type is NodeType.STRING:
        return field.choices[int(number)]
    return number


def _number_of(field: NodeField) -> Callable[[SampleValue], Number]:
    if field.type is NodeType.STRING:
        positions = {name: position for position, name in enumerate(field.choices)}
        return lambda value: positions[str(value)]
    if field.type is NodeType.DOUBLE:
        return float
    return int


class _Cursor:
    __slots__ = ("numbers", "state", "step")

    def __init__(self, state: Any, step: int, numbers: tuple[Number, ...]) -> None:
        self.state = state
        self.step = step
        self.numbers = numbers


class _NodeGroup:
    __slots__ = ("block", "converters", "map", "numbers_of")

    def __init__(self, block: ModelBlock) -> None:
        self.block = block
        self.map: NodeMap = node_map(block.model)
        self.converters = tuple(partial(node_number, field) for field in self.map.fields)
        self.numbers_of = tuple((f.signal, _number_of(f)) for f in self.map.fields)


class NodeValues:
    """Devices ``devices`` of a fleet as the OPC UA servers show them, computed when asked.

    Keeps a cursor per device asked about (its model state and the numbers of one step), as
    the Modbus side's :class:`~simulator.southbound.fleet_values.ServedFleet` does.
    """

    __slots__ = ("_cursors", "_groups", "_starts", "devices", "seed")

    def __init__(self, blocks: Sequence[ModelBlock], seed: int, devices: range) -> None:
        if not blocks:
            raise InvalidArgumentError("a fleet needs at least one model block")
        self._groups = [_NodeGroup(block) for block in blocks]
        self._starts = [block.start for block in blocks]
        self._cursors: dict[int, _Cursor] = {}
        self.devices = devices
        """The fleet indexes shown over OPC UA."""
        self.seed = seed

    def _group(self, index: int) -> _NodeGroup:
        return self._groups[bisect_right(self._starts, index) - 1]

    def device_id(self, index: int) -> str:
        """The id of device ``index``."""
        return self._group(index).block.device_id(index)

    def signals(self, index: int) -> tuple[str, ...]:
        """Device ``index``'s signals, in the node map's order."""
        return tuple(field.signal for field in self._group(index).map.fields)

    def update_s_of(self, index: int) -> float:
        """How often device ``index``'s values change."""
        return self._group(index).block.update_s

    def converters(self, index: int) -> tuple[Callable[[object], Number | None], ...]:
        """Per signal of device ``index``: a published value to the number it names."""
        return self._group(index).converters

    def numbers(self, index: int, step: int) -> tuple[Number, ...]:
        """Device ``index``'s node values at ``step``, as numbers."""
        cursor = self._cursors.get(index)
        if cursor is not None and cursor.step == step:
            return cursor.numbers
        group = self._group(index)
        block = group.block
        state, at = (None, 0) if cursor is None else (cursor.state, cursor.step)
        state, sample = advance(
            block.model, index, self.seed, block.update_s, step, state=state, at=at
        )
        numbers = tuple(convert(sample[signal]) for signal, convert in group.numbers_of)
        if cursor is None:
            self._cursors[index] = _Cursor(state, step, numbers)
        else:
            cursor.state, cursor.step, cursor.numbers = state, step, numbers
        return numbers

    def expected(self, index: int, position: int, number: Number) -> SampleValue:
        """What a correct gateway publishes for signal ``position`` showing ``number``."""
        return node_value(self._group(index).map.fields[position], number)
