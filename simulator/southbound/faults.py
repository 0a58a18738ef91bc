"""Faults on the south side, as a pure function of time: which device misbehaves how, when.

Built once from ``[[southbound.faults]]``; the server asks :meth:`FaultPlan.device_fault` for
each read (a dict lookup, and nothing at all when no device fault is planned) and the
gateway check asks the same plan which devices were faulted when, so both sides agree.
A ``share`` of the fleet is chosen from the seed and the fault's position, so a scenario
names the same devices every time it runs.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from simulator.scenario.gateway import SouthboundFaultSettings

FaultKind = Literal["silent", "slow", "exception", "restart"]

DEFAULT_EXCEPTION_CODE = 0x0B
"""Gateway target device failed to respond: what a Modbus gateway answers for a dead device."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault, its devices resolved to fleet indexes (none for a restart)."""

    number: int
    """Its position in ``[[southbound.faults]]``, from 0."""
    kind: FaultKind
    start_s: float
    end_s: float
    devices: tuple[int, ...]
    delay_s: float = 0.0
    code: int = DEFAULT_EXCEPTION_CODE

    def active(self, t_s: float) -> bool:
        """Whether the fault holds at ``t_s`` seconds after the epoch."""
        return self.start_s <= t_s < self.end_s


def chosen_devices(share: float, devices: int, seed: int, number: int) -> tuple[int, ...]:
    """``round(share * devices)`` devices (at least one), picked by a hash of seed and fault."""
    wanted = max(1, round(share * devices))
    ranked = sorted(range(devices), key=lambda i: zlib.crc32(f"{seed}:{number}:{i}".encode()))
    return tuple(sorted(ranked[:wanted]))


class FaultPlan:
    """Every fault of a scenario, looked up by device and time."""

    __slots__ = ("_by_device", "faults")

    def __init__(self, faults: Sequence[Fault]) -> None:
        self.faults = tuple(faults)
        """All faults, in the scenario's order."""
        by_device: dict[int, list[Fault]] = {}
        for fault in self.faults:
            for index in fault.devices:
                by_device.setdefault(index, []).append(fault)
        self._by_device = by_device

    @classmethod
    def from_settings(
        cls,
        settings: Sequence[SouthboundFaultSettings],
        devices: int,
        seed: int,
        *,
        modbus_devices: int | None = None,
    ) -> FaultPlan:
        """The plan of a scenario's ``[[southbound.faults]]`` for a fleet of ``devices``, of
        which the first ``modbus_devices`` (default: all) are served over Modbus: the only
        ones a ``share`` of slow or exception faults is chosen from, those being Modbus
        answers."""
        faults = []
        for number, entry in enumerate(settings):
            if entry.kind == "restart":
                chosen: tuple[int, ...] = ()
            elif entry.share is not None:
                pool = devices
                if entry.kind in ("slow", "exception") and modbus_devices is not None:
                    pool = modbus_devices
                chosen = chosen_devices(entry.share, pool, seed, number)
            else:
                chosen = tuple(sorted(set(entry.devices)))
            faults.append(
                Fault(
                    number,
                    entry.kind,
                    entry.at_s,
                    entry.at_s + entry.duration_s,
                    chosen,
                    delay_s=(entry.delay_ms or 0) / 1000,
                    code=entry.code if entry.code is not None else DEFAULT_EXCEPTION_CODE,
                )
            )
        return cls(faults)

    @property
    def restarts(self) -> tuple[Fault, ...]:
        """The server restarts, in order."""
        return tuple(fault for fault in self.faults if fault.kind == "restart")

    def edges(self) -> tuple[float, ...]:
        """Every instant a device fault starts or ends, in order (when a server that shows
        faults by what it writes, not by how it answers, must write)."""
        return tuple(sorted({t for f in self.faults if f.devices for t in (f.start_s, f.end_s)}))

    def has_device_faults(self) -> bool:
        """Whether any fault concerns single devices (else reads need not ask)."""
        return bool(self._by_device)

    def device_fault(self, index: int, t_s: float) -> Fault | None:
        """The fault device ``index`` suffers at ``t_s`` (the first listed, if several)."""
        faults = self._by_device.get(index)
        if faults is None:
            return None
        for fault in faults:
            if fault.active(t_s):
                return fault
        return None

    def faults_of(self, index: int) -> tuple[Fault, ...]:
        """Every fault planned for device ``index``."""
        return tuple(self._by_device.get(index, ()))
