"""The fault timeline: each fault at its moment, the fleet's dip and return watched, failures
and unreached faults kept, windows put in force and lifted while the timeline goes on; and an
external broker's restart command run for real."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from simulator.errors import FaultError
from simulator.faults import (
    FaultDone,
    FaultTimeline,
    active_kinds,
    fault_line,
    run_restart_command,
)
from simulator.metrics.faults import FaultRecord
from simulator.scenario.faults import (
    BrokerRestartFault,
    DropConnectionsFault,
    FaultSettings,
    NetworkFault,
    PartitionFault,
    SlowSinkFault,
    WindowFault,
)
from tests.waiting import wait_until


class Plant:
    """A target whose devices come back ``back_after_s`` after a fault took them away (with
    ``blink``, a restart takes them and brings them back at once, between two looks)."""

    def __init__(self, devices: int, back_after_s: float | None, blink: bool = False) -> None:
        self.devices = devices
        self.up = devices
        self.back_after_s = back_after_s
        self.blink = blink
        self.acted: list[str] = []
        self.in_force: list[str] = []
        self.levels: list[tuple[float, int]] = []
        """Every count of connected devices it went through, and when."""

    def connected(self) -> int:
        return self.up

    def fewest_connected(self, since: float) -> int:
        return min([self.up, *(level for at, level in self.levels if at >= since)])

    def _set(self, up: int) -> None:
        self.up = up
        self.levels.append((asyncio.get_running_loop().time(), up))

    def _take(self, count: int) -> None:
        self._set(self.up - count)
        if self.blink:
            self._restore()
        elif self.back_after_s is not None:
            asyncio.get_running_loop().call_later(self.back_after_s, self._restore)

    def _restore(self) -> None:
        self._set(self.devices)

    async def restart_broker(self, fault: BrokerRestartFault) -> FaultDone:
        self.acted.append(fault.kind)
        if fault.command == "fail":
            raise FaultError("the broker did not come back")
        self._take(self.up)
        return FaultDone("restarted", self.devices)

    def drop_connections(self, fault: DropConnectionsFault) -> FaultDone:
        self.acted.append(fault.kind)
        cut = round(self.up * fault.share)
        self._take(cut)
        return FaultDone(f"cut {cut}", cut)

    def begin_window(self, fault: WindowFault) -> FaultDone:
        self.acted.append(fault.kind)
        if isinstance(fault, SlowSinkFault) and fault.delay_ms > 1000:
            raise FaultError("no ingest to slow")
        self.in_force.append(fault.kind)
        if isinstance(fault, PartitionFault) and self.back_after_s is not None:
            # Keepalives expire inside the partition; the devices return once it is over.
            self._set(0)
            loop = asyncio.get_running_loop()
            loop.call_later(fault.duration_s + self.back_after_s, self._restore)
        return FaultDone(f"{fault.kind} in force", 0)

    def end_window(self, fault: WindowFault) -> None:
        self.in_force.remove(fault.kind)


def drop(at_s: float, share: float = 0.5) -> DropConnectionsFault:
    return DropConnectionsFault(kind="drop_connections", at_s=at_s, share=share)


def restart(at_s: float, command: str | None = None) -> BrokerRestartFault:
    return BrokerRestartFault(kind="broker_restart", at_s=at_s, command=command)


def network(at_s: float, duration_s: float) -> NetworkFault:
    return NetworkFault(kind="network", at_s=at_s, duration_s=duration_s, latency_ms=200.0)


def partition(at_s: float, duration_s: float) -> PartitionFault:
    return PartitionFault(kind="partition", at_s=at_s, duration_s=duration_s)


def timeline(
    faults: list[FaultSettings],
    plant: Plant,
    recovery_timeout_s: float = 600.0,
    on_change: list[str] | None = None,
) -> FaultTimeline:
    loop = asyncio.get_running_loop()

    def changed(record: FaultRecord) -> None:
        if on_change is not None:
            on_change.append(f"{record.kind} {'over' if record.ended_s is not None else 'on'}")

    return FaultTimeline(
        faults,
        plant,
        clock=loop.time,
        start=loop.time(),
        poll_s=0.01,
        recovery_timeout_s=recovery_timeout_s,
        on_change=changed,
    )


async def test_faults_happen_in_time_order_and_the_return_is_timed() -> None:
    plant = Plant(10, back_after_s=0.1)
    line = timeline([restart(0.3), drop(0.0)], plant)
    await line.run()
    assert plant.acted == ["drop_connections", "broker_restart"]
    dropped, restarted = line.records
    assert (dropped.kind, dropped.devices_before, dropped.devices_cut) == (
        "drop_connections",
        10,
        5,
    )
    assert dropped.devices_lowest == 5
    assert dropped.back_s is not None
    assert dropped.back_s >= 0.1
    assert restarted.started_s is not None
    assert restarted.started_s >= 0.3
    assert restarted.devices_lowest == 0
    assert restarted.back_s is not None
    assert restarted.back_s >= 0.1


async def test_a_fault_that_cut_nothing_is_back_once_its_action_is_over() -> None:
    plant = Plant(10, back_after_s=None)
    line = timeline([drop(0.0, share=0.01)], plant)
    await line.run()
    (record,) = line.records
    assert record.devices_cut == 0
    assert record.back_s is not None
    assert record.devices_lowest == 10


async def test_a_dip_between_two_looks_counts_and_its_end_is_the_return() -> None:
    # A coordinator reads its workers' figures once an interval: the fleet may drop and be
    # back in between, and only the fewest they report since the fault began shows it.
    plant = Plant(10, back_after_s=None, blink=True)
    line = timeline([restart(0.0)], plant, recovery_timeout_s=0.5)
    await line.run()
    (record,) = line.records
    assert record.devices_lowest == 0
    assert record.back_s is not None
    assert record.back_s < 0.5


async def test_a_fleet_that_does_not_come_back_is_said_so() -> None:
    plant = Plant(10, back_after_s=None)
    line = timeline([drop(0.0)], plant, recovery_timeout_s=0.2)
    await line.run()
    (record,) = line.records
    assert record.back_s is None
    assert record.devices_lowest == 5


async def test_a_failed_fault_is_recorded_and_the_timeline_goes_on() -> None:
    plant = Plant(10, back_after_s=0.02)
    line = timeline([restart(0.0, command="fail"), drop(0.01)], plant)
    await line.run()
    failed, dropped = line.records
    assert failed.error == "the broker did not come back"
    assert failed.detail == ""
    assert dropped.error is None
    assert dropped.back_s is not None


async def test_cancelled_early_the_faults_not_reached_have_no_start() -> None:
    plant = Plant(10, back_after_s=0.01)
    line = timeline([drop(0.0), drop(60.0)], plant)
    task = asyncio.create_task(line.run())
    await wait_until(lambda: line.records[0].back_s is not None, "the first fault's return")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    done, not_reached = line.records
    assert done.started_s is not None
    assert not_reached.started_s is None
    assert not_reached.at_s == 60.0


async def test_an_external_broker_is_restarted_by_running_its_command(tmp_path: Path) -> None:
    marker = tmp_path / "restarted"
    await run_restart_command(f"touch {marker}", timeout_s=10)
    assert marker.exists()
    with pytest.raises(FaultError, match=r"'echo nope >&2; exit 3' exited with status 3: nope"):
        await run_restart_command("echo nope >&2; exit 3", timeout_s=10)


async def test_a_restart_command_that_hangs_is_stopped() -> None:
    with pytest.raises(FaultError, match=r"did not finish within 0\.2 s"):
        await run_restart_command("sleep 30", timeout_s=0.2)


async def test_a_window_is_lifted_after_its_duration_while_the_timeline_goes_on() -> None:
    plant = Plant(10, back_after_s=0.02)
    heard: list[str] = []
    line = timeline([network(0.0, 0.3), drop(0.05)], plant, on_change=heard)
    task = asyncio.create_task(line.run())
    # The drop comes at its moment, inside the network window, not after it.
    await wait_until(lambda: line.records[1].ended_s is not None, "the drop")
    slowed, dropped = line.records
    assert plant.in_force == ["network"]
    assert slowed.ended_s is None
    assert [record.kind for record in line.active] == ["network"]
    assert active_kinds([network(0, 1), drop(0)], line.active) == {
        "drop_connections": 0,
        "network": 1,
    }
    await task
    assert plant.in_force == []
    assert slowed.started_s is not None
    assert slowed.ended_s is not None
    assert slowed.ended_s - slowed.started_s >= 0.3
    assert slowed.detail == "network in force"
    assert slowed.back_s is not None  # it cut nothing: back once lifted
    assert dropped.started_s is not None
    assert dropped.started_s < slowed.ended_s
    assert heard == ["network on", "drop_connections on", "drop_connections over", "network over"]


async def test_a_partition_that_cost_connections_is_back_when_they_are() -> None:
    plant = Plant(10, back_after_s=0.05)
    line = timeline([partition(0.0, 0.1)], plant)
    await line.run()
    (record,) = line.records
    assert record.devices_lowest == 0
    assert record.devices_cut == 0
    assert record.back_s is not None
    assert record.back_s >= 0.15
    assert plant.in_force == []


async def test_a_window_that_cannot_be_put_in_force_is_recorded_and_never_lifted() -> None:
    plant = Plant(10, back_after_s=None)
    slow = SlowSinkFault(kind="slow_sink", at_s=0.0, duration_s=5.0, delay_ms=2000.0)
    line = timeline([slow], plant)
    await line.run()
    (record,) = line.records
    assert record.error == "no ingest to slow"
    assert record.ended_s is not None
    assert plant.in_force == []
    assert fault_line(record).endswith("could not be carried out: no ingest to slow")


async def test_cancelled_mid_window_the_window_is_lifted() -> None:
    plant = Plant(10, back_after_s=None)
    line = timeline([partition(0.0, 60.0)], plant)
    task = asyncio.create_task(line.run())
    await wait_until(lambda: plant.in_force == ["partition"], "the partition")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert plant.in_force == []
    assert line.records[0].ended_s is not None


def test_the_live_line_says_what_began_and_what_ended() -> None:
    began = FaultRecord("network", 5.0, 10.0, started_s=5.01, detail="+200 ms for 10 s")
    assert fault_line(began) == "fault: network begins at 5.0 s: +200 ms for 10 s"
    began.ended_s = 15.02
    assert fault_line(began) == "fault: network over at 15.0 s"
    cut = FaultRecord("drop_connections", 3.0, started_s=3.0, ended_s=3.0, detail="cut 5")
    assert fault_line(cut) == "fault: drop_connections at 3.0 s: cut 5"
