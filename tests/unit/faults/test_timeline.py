"""The fault timeline: each fault at its moment, the fleet's dip and return watched, failures
and unreached faults kept; and an external broker's restart command run for real."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from simulator.errors import FaultError
from simulator.faults import FaultDone, FaultTimeline, run_restart_command
from simulator.scenario.faults import BrokerRestartFault, DropConnectionsFault
from tests.waiting import wait_until


class Plant:
    """A target whose devices come back ``back_after_s`` after a fault took them away."""

    def __init__(self, devices: int, back_after_s: float | None) -> None:
        self.devices = devices
        self.up = devices
        self.back_after_s = back_after_s
        self.acted: list[str] = []

    def connected(self) -> int:
        return self.up

    def _take(self, count: int) -> None:
        self.up -= count
        if self.back_after_s is not None:
            asyncio.get_running_loop().call_later(self.back_after_s, self._restore)

    def _restore(self) -> None:
        self.up = self.devices

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


def drop(at_s: float, share: float = 0.5) -> DropConnectionsFault:
    return DropConnectionsFault(kind="drop_connections", at_s=at_s, share=share)


def restart(at_s: float, command: str | None = None) -> BrokerRestartFault:
    return BrokerRestartFault(kind="broker_restart", at_s=at_s, command=command)


def timeline(
    faults: list[DropConnectionsFault | BrokerRestartFault], plant: Plant, **kw: float
) -> FaultTimeline:
    loop = asyncio.get_running_loop()
    return FaultTimeline(faults, plant, clock=loop.time, start=loop.time(), poll_s=0.01, **kw)


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
