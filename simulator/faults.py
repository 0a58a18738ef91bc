"""A run's ``[[faults]]``, carried out on its timeline.

:class:`FaultTimeline` waits for each fault's moment (seconds after the run began, on the
injected clock), has the :class:`FaultTarget` (the runner: it owns the broker and the fleet)
carry it out, and watches the fleet come back: the fewest devices connected, and when as many
are connected as before. One task for the timeline and one watcher per fault in progress;
nothing per device. What happened is kept as :class:`~simulator.metrics.faults.FaultRecord`
for the report (:func:`~simulator.metrics.faults.fault_figures`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from simulator.broker import LocalBroker
from simulator.engine.fleet import Fleet
from simulator.errors import BrokerLaunchError, FaultError, SimulatorError
from simulator.metrics.faults import FaultRecord
from simulator.scenario.faults import BrokerRestartFault, DropConnectionsFault, FaultSettings

WATCH_POLL_S = 0.05
"""How often a fault's watcher counts the connected devices."""

RECOVERY_TIMEOUT_S = 600.0
"""How long a watcher waits for the fleet to be whole again before it gives up."""


@dataclass(frozen=True, slots=True)
class FaultDone:
    """What a fault's action did."""

    detail: str
    """In a few words, for the report."""
    devices_cut: int
    """Devices whose connections the action itself took away."""


class FaultTarget(Protocol):
    """What a fault acts on: the run's broker and fleet."""

    def connected(self) -> int:
        """Devices connected now."""

    async def restart_broker(self, fault: BrokerRestartFault) -> FaultDone:
        """Stop the broker, wait ``fault.down_s``, start it again.

        Returns once the broker accepts connections again; raises SimulatorError otherwise.
        """

    def drop_connections(self, fault: DropConnectionsFault) -> FaultDone:
        """Cut ``fault.share`` of the open connections at once."""


class FaultTimeline:
    """Carries out faults at their moments and records what they did."""

    def __init__(
        self,
        faults: Sequence[FaultSettings],
        target: FaultTarget,
        *,
        clock: Callable[[], float],
        start: float,
        poll_s: float = WATCH_POLL_S,
        recovery_timeout_s: float = RECOVERY_TIMEOUT_S,
    ) -> None:
        """``start`` is the ``clock()`` reading at which the run began."""
        self._faults = sorted(faults, key=lambda fault: fault.at_s)
        self._target = target
        self._clock = clock
        self._start = start
        self._poll_s = poll_s
        self._recovery_timeout_s = recovery_timeout_s
        self.records = [FaultRecord(fault.kind, fault.at_s) for fault in self._faults]
        """One per fault, in timeline order; those not reached keep ``started_s`` None."""

    def _now(self) -> float:
        return self._clock() - self._start

    async def run(self) -> None:
        """Carry out every fault in order; return once all are done and the fleet is back
        (or given up on). Cancel it to end the timeline early: what happened so far stays."""
        watchers: list[asyncio.Task[None]] = []
        try:
            for fault, record in zip(self._faults, self.records, strict=True):
                delay = fault.at_s - self._now()
                if delay > 0:
                    await asyncio.sleep(delay)
                record.started_s = self._now()
                record.devices_before = record.devices_lowest = self._target.connected()
                watcher = asyncio.create_task(self._watch(record))
                watchers.append(watcher)
                try:
                    done = await self._carry_out(fault)
                except SimulatorError as exc:
                    record.error = str(exc)
                else:
                    record.detail, record.devices_cut = done.detail, done.devices_cut
                record.ended_s = self._now()
            await asyncio.gather(*watchers)
        finally:
            for watcher in watchers:
                watcher.cancel()
            for watcher in watchers:
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher

    async def _carry_out(self, fault: FaultSettings) -> FaultDone:
        if isinstance(fault, BrokerRestartFault):
            return await self._target.restart_broker(fault)
        return self._target.drop_connections(fault)

    async def _watch(self, record: FaultRecord) -> None:
        """Follow the connected devices from the fault's start: the fewest, and when all are
        back. A fault that cut devices is back only after the dip it caused (a cut not yet
        felt is not a recovery); one that cut none, once its action is over."""
        started = record.started_s
        assert started is not None
        target = self._target
        deadline = started + self._recovery_timeout_s
        dipped = False
        while self._now() < deadline:
            connected = target.connected()
            record.devices_lowest = min(record.devices_lowest, connected)
            if connected < record.devices_before:
                dipped = True
            elif dipped or (record.ended_s is not None and record.devices_cut == 0):
                record.back_s = self._now() - started
                return
            await asyncio.sleep(self._poll_s)


class RunFaults:
    """The run's broker and fleet as a :class:`FaultTarget`."""

    def __init__(
        self,
        fleet: Fleet,
        brokers: Sequence[LocalBroker],
        *,
        seed: int,
        timeout_s: float = 60.0,
    ) -> None:
        """``brokers`` are the local brokers the run started (none: an external broker,
        restarted by the fault's ``command``); ``seed`` chooses which connections a drop cuts;
        a restart must be over within ``timeout_s``."""
        self._fleet = fleet
        self._brokers = brokers
        self._rng = random.Random(seed)
        self._timeout_s = timeout_s

    def connected(self) -> int:
        return self._fleet.connected

    async def restart_broker(self, fault: BrokerRestartFault) -> FaultDone:
        before = self._fleet.connected
        brokers = self._brokers
        if not brokers:
            if fault.command is None:
                raise FaultError("broker_restart needs a command for an external broker")
            await run_restart_command(fault.command, self._timeout_s)
            return FaultDone(f"ran {fault.command!r}", before)
        stopped: list[LocalBroker] = []
        try:
            try:
                for broker in brokers:
                    await asyncio.to_thread(broker.stop_for_restart)
                    stopped.append(broker)
                await asyncio.sleep(fault.down_s)
            finally:
                # Also when the run ends mid-restart: it never leaves a broker stopped.
                for broker in stopped:
                    await asyncio.to_thread(broker.start)
        except BrokerLaunchError as exc:
            raise FaultError(f"a local broker did not come back: {exc}") from exc
        said = "the local broker" if len(brokers) == 1 else f"{len(brokers)} local brokers"
        return FaultDone(f"{said} down {fault.down_s:g} s", before)

    def drop_connections(self, fault: DropConnectionsFault) -> FaultDone:
        connections, devices = self._fleet.drop_connections(fault.share, self._rng)
        return FaultDone(f"cut {connections:,} connections ({devices:,} devices)", devices)


async def run_restart_command(command: str, timeout_s: float) -> None:
    """Run the user's shell command that restarts their broker; FaultError when it fails or
    outlasts ``timeout_s``."""
    proc = await asyncio.create_subprocess_shell(
        command,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # its own process group: a timeout stops what it started too
    )
    try:
        async with asyncio.timeout(timeout_s):
            _, stderr = await proc.communicate()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.communicate()
        raise FaultError(f"{command!r} did not finish within {timeout_s:g} s") from None
    if proc.returncode != 0:
        said = stderr.decode(errors="replace").strip().splitlines()
        tail = f": {said[-1]}" if said else ""
        raise FaultError(f"{command!r} exited with status {proc.returncode}{tail}")
