"""The served fleet: which device answers at which endpoint and unit id, and its registers at t.

Pure: no clock, no I/O. Time comes in as ``t_s``, seconds since the server's epoch.

**Addressing.** Device ``i`` of the scenario's fleet is unit ``i % D + 1`` of endpoint
``i // D`` (``D`` = ``devices_per_port``, at most 247, the unit ids Modbus gives devices), so
a fleet of N devices needs ``ceil(N / D)`` endpoints, each a (host, port) pair (see
:meth:`simulator.scenario.schema.SouthboundSettings.endpoints`).

**Values are computed on read.** The registers a device shows at time ``t_s`` encode its
model's sample for the step ``t_s`` is at (:mod:`simulator.southbound.samples`, the ground truth
every protocol shows). A device keeps only a cursor (its model state, the step it is at, and that
step's encoded registers), made on its first read and moved on by
:func:`~simulator.southbound.samples.advance`, so the answer never depends on when it was read.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from simulator.errors import InvalidArgumentError
from simulator.fleet import PlantLayout
from simulator.scenario.composition import Group
from simulator.southbound.modbus import ExceptionCode
from simulator.southbound.register_map import RegisterEncoder, RegisterMap, WordOrder, register_map
from simulator.southbound.samples import ModelBlock, advance, model_blocks, sample_at, step_at

__all__ = ["MAX_UNITS_PER_ENDPOINT", "ServedDevice", "ServedFleet", "sample_at", "step_at"]

MAX_UNITS_PER_ENDPOINT = 247
"""Unit ids 1 to 247 address devices (0 is broadcast, 248-255 are reserved)."""


@dataclass(frozen=True, slots=True)
class ServedDevice:
    """Where one device answers, and what it is."""

    index: int
    device_id: str
    model: str
    endpoint: int
    """Index into the server's endpoints."""
    unit_id: int
    update_s: float


class _Cursor:
    """A device's model state at one step, and that step's registers."""

    __slots__ = ("state", "step", "words")

    def __init__(self, state: Any, step: int, words: bytes) -> None:
        self.state = state
        self.step = step
        self.words = words


class _ServedGroup:
    __slots__ = ("encoder", "layout", "model", "start", "update_s")

    def __init__(self, block: ModelBlock, word_order: WordOrder) -> None:
        self.model = block.model
        self.start = block.start
        self.update_s = block.update_s
        self.layout = block.layout
        self.encoder = RegisterEncoder(register_map(self.model), word_order)


class ServedFleet:
    """Every device of a fleet behind Modbus endpoints, its registers computed when read."""

    __slots__ = ("_cursors", "_groups", "_starts", "devices", "devices_per_endpoint", "seed")

    def __init__(
        self,
        groups: Sequence[Group],
        plant: PlantLayout,
        *,
        seed: int,
        devices_per_endpoint: int,
        update_s: float | None = None,
        word_order: WordOrder = "big",
    ) -> None:
        """``update_s`` None: each device updates at its group's publish interval."""
        if not 1 <= devices_per_endpoint <= MAX_UNITS_PER_ENDPOINT:
            raise InvalidArgumentError(
                f"devices_per_endpoint must be 1..{MAX_UNITS_PER_ENDPOINT}, "
                f"got {devices_per_endpoint}"
            )
        if update_s is not None and not update_s > 0:
            raise InvalidArgumentError(f"update_s must be > 0, got {update_s}")
        self._groups = [
            _ServedGroup(block, word_order) for block in model_blocks(groups, plant, update_s)
        ]
        self._starts = [g.start for g in groups]
        self._cursors: dict[int, _Cursor] = {}
        self.devices = groups[-1].start + groups[-1].count if groups else 0
        """How many devices are served."""
        self.devices_per_endpoint = devices_per_endpoint
        self.seed = seed

    @property
    def endpoints(self) -> int:
        """Endpoints (host, port pairs) the fleet needs."""
        return -(-self.devices // self.devices_per_endpoint)

    def device_at(self, endpoint: int, unit_id: int) -> int | None:
        """The index of the device at ``unit_id`` of ``endpoint``, or None if there is none."""
        if not 1 <= unit_id <= self.devices_per_endpoint:
            return None
        index = endpoint * self.devices_per_endpoint + unit_id - 1
        return index if index < self.devices else None

    def _group(self, index: int) -> _ServedGroup:
        return self._groups[bisect_right(self._starts, index) - 1]

    def map_of(self, index: int) -> RegisterMap:
        """The register map of device ``index``."""
        return self._group(index).encoder.map

    def encoder_of(self, index: int) -> RegisterEncoder:
        """The encoder of device ``index``'s registers (its map and word order)."""
        return self._group(index).encoder

    def update_s_of(self, index: int) -> float:
        """How often device ``index``'s registers change."""
        return self._group(index).update_s

    def served(self, index: int) -> ServedDevice:
        """Where device ``index`` answers and what it is."""
        group = self._group(index)
        per = self.devices_per_endpoint
        return ServedDevice(
            index,
            group.layout.identity(index).device_id,
            group.model.name,
            index // per,
            index % per + 1,
            group.update_s,
        )

    def __iter__(self) -> Iterator[ServedDevice]:
        return (self.served(index) for index in range(self.devices))

    def registers(self, index: int, t_s: float) -> bytes:
        """Every register of device ``index`` at ``t_s``, two bytes each, from address 0."""
        group = self._group(index)
        step = step_at(t_s, group.update_s)
        cursor = self._cursors.get(index)
        if cursor is not None and cursor.step == step:
            return cursor.words
        state, at = (None, 0) if cursor is None else (cursor.state, cursor.step)
        state, sample = advance(
            group.model, index, self.seed, group.update_s, step, state=state, at=at
        )
        words = group.encoder.encode(sample)
        if cursor is None:
            self._cursors[index] = _Cursor(state, step, words)
        else:
            cursor.state, cursor.step, cursor.words = state, step, words
        return words

    def read(
        self, endpoint: int, unit_id: int, address: int, count: int, t_s: float
    ) -> bytes | ExceptionCode:
        """The ``count`` registers from ``address`` of a unit at ``t_s``, or why not."""
        index = self.device_at(endpoint, unit_id)
        if index is None:
            return ExceptionCode.GATEWAY_TARGET_FAILED
        if address + count > self._group(index).encoder.map.size:
            return ExceptionCode.ILLEGAL_DATA_ADDRESS
        words = self.registers(index, t_s)
        return words[2 * address : 2 * (address + count)]
