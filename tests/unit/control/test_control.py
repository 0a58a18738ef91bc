"""Live control: the rate as one factor on the groups' paces, pause and resume, faults
triggered on the timeline, refusals that say why, and every request kept for the report."""

from __future__ import annotations

import asyncio
import contextlib

from simulator.control import RunControl
from simulator.engine.pacing import Pace
from simulator.faults import FaultTimeline
from tests.unit.faults.test_timeline import Plant
from tests.waiting import wait_until


def control(paces: list[Pace], timeline: FaultTimeline | None = None, **kw: bool) -> RunControl:
    clock = iter(range(100))
    return RunControl(
        paces,
        1000.0,
        timeline,
        run_time_s=lambda: 12.5,
        fleet_time_s=lambda: float(next(clock)),
        **kw,
    )


def test_the_rate_is_one_factor_on_every_group_and_pause_keeps_it_for_resume() -> None:
    paces = [Pace(1.0), Pace(0.5)]
    live = control(paces)
    assert live.apply({"action": "rate", "msg_rate_per_s": 2500}).status == 200
    assert [pace.factor for pace in paces] == [2.5, 2.5]
    assert live.apply({"action": "pause"}).message == "publishing paused"
    assert [pace.factor for pace in paces] == [0.0, 0.0]
    said = live.apply({"action": "rate", "msg_rate_per_s": 500}).message
    assert said == "offered rate set to 500 msg/s (applies on resume)"
    assert [pace.factor for pace in paces] == [0.0, 0.0]
    assert live.apply({"action": "resume"}).message == "publishing resumed at 500 msg/s"
    assert [pace.factor for pace in paces] == [0.5, 0.5]
    assert [event["action"] for event in live.events] == ["rate", "pause", "rate", "resume"]
    assert all(event["ok"] and event["t_s"] == 12.5 for event in live.events)


def test_bad_requests_are_refused_and_kept() -> None:
    live = control([Pace(1.0)])
    assert live.apply({"action": "faster"}).status == 400
    answer = live.apply({"action": "rate", "msg_rate_per_s": -3})
    assert (answer.status, answer.message) == (400, "msg_rate_per_s must be a number >= 0, got -3")
    assert live.apply({"action": "rate", "msg_rate_per_s": True}).status == 400
    assert [event["ok"] for event in live.events] == [False, False, False]


def test_a_staged_run_follows_its_stages() -> None:
    live = control([Pace(1.0)], staged=True)
    answer = live.apply({"action": "pause"})
    assert (answer.status, answer.message) == (
        409,
        "this run's rate follows its [[stages]]; it cannot be changed",
    )


async def test_a_fault_is_checked_then_triggered_now_on_the_timeline() -> None:
    plant = Plant(10, back_after_s=0.01)
    loop = asyncio.get_running_loop()
    timeline = FaultTimeline([], plant, clock=loop.time, start=loop.time(), poll_s=0.01)
    timeline.open = True
    running = asyncio.create_task(timeline.run())
    live = control([], timeline)
    bad = live.apply({"action": "fault", "fault": {"kind": "drop_connections", "share": 2}})
    assert bad.status == 400
    assert "share" in bad.message
    answer = live.apply({"action": "fault", "fault": {"kind": "drop_connections", "share": 0.5}})
    assert answer.status == 200
    assert answer.message.startswith("drop_connections triggered at ")
    (record,) = timeline.records
    await wait_until(lambda: record.back_s is not None, "the fleet back")
    assert plant.acted == ["drop_connections"]
    assert record.devices_cut == 5
    assert not running.done(), "an open timeline lasts until the run ends it"
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)


def test_the_rate_may_be_given_as_a_factor_on_the_scenario_s_own() -> None:
    paces = [Pace(1.0)]
    live = control(paces)
    assert live.apply({"action": "rate", "factor": 0.25}).message == "offered rate set to 250 msg/s"
    assert paces[0].factor == 0.25
    answer = live.apply({"action": "rate", "factor": "fast"})
    assert (answer.status, answer.message) == (400, "factor must be a number >= 0, got 'fast'")


async def test_a_fault_may_say_when_the_report_plans_it() -> None:
    loop = asyncio.get_running_loop()
    timeline = FaultTimeline([], Plant(10, 0.01), clock=loop.time, start=loop.time())
    timeline.open = True
    running = asyncio.create_task(timeline.run())
    live = control([], timeline)
    fault = {"kind": "drop_connections", "share": 0.5}
    assert live.apply({"action": "fault", "fault": fault, "at_s": -1}).status == 400
    answer = live.apply({"action": "fault", "fault": fault, "at_s": 3.5})
    assert answer.message == "drop_connections triggered at 3.5 s"
    (record,) = timeline.records
    assert record.at_s == 3.5
    await wait_until(lambda: record.back_s is not None, "the fleet back")
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
