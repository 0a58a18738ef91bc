"""A run's ``[[faults]]``, carried out on its timeline.

:class:`FaultTimeline` waits for each fault's moment (seconds after the run began, on the
injected clock), has the :class:`FaultTarget` (the runner: it owns the broker, the relay, the
ingest workers and the fleet) carry it out, and watches the fleet come back: the fewest
devices connected, and when as many are connected as before. A fault with a window
(``network``, ``partition``, ``slow_sink``) is put in force at its moment and lifted
``duration_s`` later, while the timeline goes on to the next fault. One task for the
timeline, one watcher per fault in progress and one per open window; nothing per device.
What happened is kept as :class:`~simulator.metrics.faults.FaultRecord` for the report
(:func:`~simulator.metrics.faults.fault_figures`).
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
from simulator.scenario.faults import (
    BrokerRestartFault,
    DropConnectionsFault,
    FaultSettings,
    PartitionFault,
    SlowSinkFault,
    WindowFault,
)
from simulator.transport.link import Impairment
from simulator.transport.relay import Relay

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

    def fewest_connected(self, since: float) -> int:
        """The fewest devices connected since the timeline's clock read ``since``, as far as
        can be told: what :meth:`connected` says now, or less where it reads figures taken
        once an interval (a coordinator's, from its workers) and a dip came between two."""

    async def restart_broker(self, fault: BrokerRestartFault) -> FaultDone:
        """Stop the broker, wait ``fault.down_s``, start it again.

        Returns once the broker accepts connections again; raises SimulatorError otherwise.
        """

    def drop_connections(self, fault: DropConnectionsFault) -> FaultDone:
        """Cut ``fault.share`` of the open connections at once."""

    def begin_window(self, fault: WindowFault) -> FaultDone:
        """Put ``fault``'s conditions in force (until :meth:`end_window`)."""

    def end_window(self, fault: WindowFault) -> None:
        """Lift what :meth:`begin_window` put in force for ``fault``."""


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
        on_change: Callable[[FaultRecord], None] | None = None,
    ) -> None:
        """``start`` is the ``clock()`` reading at which the run began; ``on_change`` hears of
        each fault as it starts and as it ends (the live view, the metrics)."""
        self._on_change = on_change
        self._faults = sorted(faults, key=lambda fault: fault.at_s)
        self._target = target
        self._clock = clock
        self._start = start
        self._poll_s = poll_s
        self._recovery_timeout_s = recovery_timeout_s
        self.records = [_record(fault) for fault in self._faults]
        """One per fault, in timeline order (then those triggered); those not reached keep
        ``started_s`` None."""
        self.open = False
        """Whether faults may still be triggered (:meth:`trigger`): then :meth:`run` lasts
        until cancelled."""
        self._tasks: list[asyncio.Task[None]] = []
        """Faults triggered, windows to close and watchers: cancelled when the run ends."""

    def _now(self) -> float:
        return self._clock() - self._start

    @property
    def active(self) -> list[FaultRecord]:
        """The faults in progress now: begun, their action or window not over."""
        return [r for r in self.records if r.started_s is not None and r.ended_s is None]

    async def run(self) -> None:
        """Carry out every fault in order; return once all are done and the fleet is back
        (or given up on), or, while :attr:`open` (live control may still trigger faults),
        once cancelled. Cancel it to end the timeline early: what happened so far stays,
        and a window still open is lifted."""
        try:
            scheduled = self.records[: len(self._faults)]  # triggered ones follow
            for fault, record in zip(self._faults, scheduled, strict=True):
                delay = fault.at_s - self._now()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self._happen(fault, record)
            while self._tasks and not all(task.done() for task in self._tasks):
                await asyncio.gather(*self._tasks)
            if self.open:
                await asyncio.Event().wait()  # until the run ends it
        finally:
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def trigger(self, fault: FaultSettings, at_s: float | None = None) -> FaultRecord:
        """Carry out ``fault`` now, whatever its ``at_s`` (live control); its record is
        returned at once and filled in as it happens, planned at ``at_s`` (None: now; each
        worker of ``run --workers`` is given its coordinator's moment, so that the merge makes
        the workers' shares of the fault one entry)."""
        record = _record(fault)
        record.at_s = round(self._now(), 3) if at_s is None else at_s
        self.records.append(record)
        self._tasks.append(asyncio.create_task(self._happen(fault, record)))
        return record

    async def _happen(self, fault: FaultSettings, record: FaultRecord) -> None:
        """Carry out ``fault`` now and start watching the fleet come back."""
        record.started_s = self._now()
        record.devices_before = record.devices_lowest = self._target.connected()
        self._tasks.append(asyncio.create_task(self._watch(record)))
        window = isinstance(fault, WindowFault)
        if not window:
            self._changed(record)
        try:
            if isinstance(fault, WindowFault):
                done = self._target.begin_window(fault)
                self._tasks.append(asyncio.create_task(self._close_window(fault, record)))
            elif isinstance(fault, BrokerRestartFault):
                done = await self._target.restart_broker(fault)
            else:
                done = self._target.drop_connections(fault)
        except SimulatorError as exc:
            record.error = str(exc)
            self._end(record)
            return
        record.detail, record.devices_cut = done.detail, done.devices_cut
        # A window is announced with what it put in force; a moment, with what it did.
        if window:
            self._changed(record)
        else:
            self._end(record)

    def _end(self, record: FaultRecord) -> None:
        record.ended_s = self._now()
        self._changed(record)

    def _changed(self, record: FaultRecord) -> None:
        if self._on_change is not None:
            self._on_change(record)

    async def _close_window(self, fault: WindowFault, record: FaultRecord) -> None:
        """Lift ``fault`` ``duration_s`` after it began (also when the run ends first)."""
        started = record.started_s
        assert started is not None
        try:
            await asyncio.sleep(max(0.0, started + fault.duration_s - self._now()))
        finally:
            self._target.end_window(fault)
            self._end(record)
            never_dipped = record.devices_lowest >= record.devices_before
            if record.back_s is None and never_dipped and self._whole(record):
                # Its watcher may be cancelled with it (the run ends first): the fleet was
                # whole all along, so it is back when the window closes.
                record.back_s = self._now() - started

    def _whole(self, record: FaultRecord) -> bool:
        return self._target.connected() >= record.devices_before

    async def _watch(self, record: FaultRecord) -> None:
        """Follow the connected devices from the fault's start: the fewest, and when all are
        back. A fault that cut devices is back only after the dip it caused (a cut not yet
        felt is not a recovery); one that cut none, once its action is over."""
        started = record.started_s
        assert started is not None
        target = self._target
        deadline = started + self._recovery_timeout_s
        dipped = False
        since = self._start + started
        while self._now() < deadline:
            connected = target.connected()
            lowest = min(connected, target.fewest_connected(since))
            record.devices_lowest = min(record.devices_lowest, lowest)
            if lowest < record.devices_before:
                dipped = True
            if connected >= record.devices_before and (
                dipped or (record.ended_s is not None and record.devices_cut == 0)
            ):
                record.back_s = self._now() - started
                return
            await asyncio.sleep(self._poll_s)


def _record(fault: FaultSettings) -> FaultRecord:
    return FaultRecord(
        fault.kind, fault.at_s, fault.duration_s if isinstance(fault, WindowFault) else None
    )


class SlowableSink(Protocol):
    """What a ``slow_sink`` fault acts on: the run's ingest workers."""

    def delay_commits(self, delay_s: float) -> None:
        """Wait ``delay_s`` before each batch's commit from now on (0: no more)."""


class RunFaults:
    """The run's broker, relay, ingest and fleet as a :class:`FaultTarget`."""

    def __init__(
        self,
        connected: Callable[[], int],
        brokers: Sequence[LocalBroker],
        *,
        seed: int,
        fewest: Callable[[float], int] | None = None,
        fleet: Fleet | None = None,
        relay: Relay | None = None,
        sink: SlowableSink | None = None,
        timeout_s: float = 60.0,
    ) -> None:
        """``connected`` counts the run's devices connected now, ``fewest`` the fewest since a
        moment (None: the count now; see :meth:`FaultTarget.fewest_connected`); ``brokers`` are
        the local brokers the run started (none: an external broker, restarted by the fault's
        ``command``); ``seed`` chooses which connections a drop cuts; ``fleet`` is this
        process's fleet (``drop_connections``; none: a coordinator, whose workers cut their
        own); ``relay`` carries the fleet's connections (``network`` and ``partition`` act on
        it); ``sink`` is ingest (``slow_sink``); a restart must be over within ``timeout_s``."""
        self._connected = connected
        self._fewest = fewest
        self._fleet = fleet
        self._brokers = brokers
        self._rng = random.Random(seed)
        self._relay = relay
        self._sink = sink
        self._timeout_s = timeout_s
        self._impairments: dict[int, Impairment] = {}
        """The relay's impairment of each ``network`` fault in force, by the fault's id."""
        self._delays: list[tuple[int, float]] = []
        """The delay of each ``slow_sink`` fault in force, by the fault's id (latest rules)."""

    def connected(self) -> int:
        return self._connected()

    def fewest_connected(self, since: float) -> int:
        return self._fewest(since) if self._fewest is not None else self._connected()

    async def restart_broker(self, fault: BrokerRestartFault) -> FaultDone:
        before = self._connected()
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
        if self._fleet is None:
            raise FaultError("drop_connections needs the fleet's connections")
        connections, devices = self._fleet.drop_connections(fault.share, self._rng)
        return FaultDone(f"cut {connections:,} connections ({devices:,} devices)", devices)

    def begin_window(self, fault: WindowFault) -> FaultDone:
        if isinstance(fault, SlowSinkFault):
            if self._sink is None:
                raise FaultError("slow_sink needs the run's ingest")
            self._delays.append((id(fault), fault.delay_ms / 1000))
            self._sink.delay_commits(fault.delay_ms / 1000)
            return FaultDone(
                f"each batch's commit {fault.delay_ms:g} ms later for {fault.duration_s:g} s", 0
            )
        relay = self._relay
        if relay is None:
            raise FaultError(f"{fault.kind} needs the relay between the fleet and the broker")
        if isinstance(fault, PartitionFault):
            relay.hold()
            return FaultDone(
                f"nothing passed either way for {fault.duration_s:g} s "
                f"({relay.open:,} connections held open)",
                0,
            )
        impairment = Impairment(fault.latency_ms / 1000, fault.jitter_ms / 1000, fault.loss)
        self._impairments[id(fault)] = impairment
        relay.impair(impairment)
        return FaultDone(f"{impairment.describe()} for {fault.duration_s:g} s", 0)

    def end_window(self, fault: WindowFault) -> None:
        if isinstance(fault, SlowSinkFault):
            self._delays = [entry for entry in self._delays if entry[0] != id(fault)]
            if self._sink is not None:
                self._sink.delay_commits(self._delays[-1][1] if self._delays else 0.0)
            return
        relay = self._relay
        if relay is None:
            return
        if isinstance(fault, PartitionFault):
            relay.unhold()
        elif (impairment := self._impairments.pop(id(fault), None)) is not None:
            relay.restore(impairment)


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


def fault_line(record: FaultRecord) -> str:
    """One line for the live view as a fault begins or ends."""
    at = record.ended_s if record.ended_s is not None else record.started_s
    when = f"at {at:.1f} s" if at is not None else ""
    if record.error is not None:
        return f"fault: {record.kind} {when} could not be carried out: {record.error}"
    detail = f": {record.detail}" if record.detail else ""
    if record.ended_s is None:
        return f"fault: {record.kind} begins {when}{detail}"
    if record.duration_s is not None:
        return f"fault: {record.kind} over {when}"
    return f"fault: {record.kind} {when}{detail}"


def active_kinds(faults: Sequence[FaultSettings], active: Sequence[FaultRecord]) -> dict[str, int]:
    """How many faults of each kind the scenario has are in force (0 for those that are not),
    for the ``factory_sim_fault_active`` gauge."""
    counts: dict[str, int] = dict.fromkeys(sorted({fault.kind for fault in faults}), 0)
    for record in active:
        counts[record.kind] = counts.get(record.kind, 0) + 1
    return counts
