"""The stage driver on a real fleet of fakes (``fake_fleet``): the rate it sets is what the
wheels send, connections leave from the top as the plan falls, and each stage's mark is read
at its end, before anything of the next stage happens."""

from __future__ import annotations

import asyncio

import pytest

from simulator.engine.fleet import Fleet
from simulator.engine.staging import StageDriver
from simulator.scenario import validate_scenario
from simulator.scenario.composition import connection_starts
from simulator.scenario.stages import StagePlan, StageSchedule
from tests.unit.engine.fake_fleet import built, run_until
from tests.unit.engine.fake_loop import FakeLoop

STAGES = [
    {"duration_s": 1.0, "devices": 10, "msg_rate_per_s": 1000.0},
    {"duration_s": 1.0, "devices": 10, "msg_rate_per_s": 2500.0},
    {"duration_s": 1.0, "devices": 0, "msg_rate_per_s": 0.0},
]


def staged_fleet(per_connection: int = 1) -> tuple[Fleet, FakeLoop, StageDriver]:
    """10 devices every 10 ms (1,000 msg/s at their own rate) on the stages above, every
    connection made at 0 by the fake connector, the driver in place before onboarding."""
    fleet_settings = {
        "devices": 10,
        "publish_interval_s": 0.01,
        "payload": "json",
        "devices_per_connection": per_connection,
    }
    scenario = validate_scenario(
        {
            "name": "staged",
            "fleet": fleet_settings,
            "ingest": {"enabled": False},
            "stages": STAGES,
        },
        "<test>",
    )
    fleet, loop = built(scenario)
    plan = StagePlan(scenario.stages, scenario.fleet.groups)
    schedule = StageSchedule(plan, connection_starts(scenario.fleet.groups))
    driver = StageDriver(plan, fleet, clock=loop.time, start=0.0, connections=schedule.connections)
    asyncio.run(fleet.onboard(schedule, connections=schedule.connections))
    return fleet, loop, driver


def advance(fleet: Fleet, loop: FakeLoop, driver: StageDriver, until: float) -> None:
    """Move the clock in steps of a millisecond, the driver and the wheels following."""
    t = loop.now
    while t < until - 1e-9:
        t = min(until, round(t + 0.001, 6))
        loop.now = t
        driver.step()
        # A hair later: a slot due at a decimal time may compute a hair after it.
        run_until(fleet, loop, t + 1e-9)


def test_the_wheels_send_the_rate_the_stage_asks_for() -> None:
    fleet, loop, driver = staged_fleet()
    advance(fleet, loop, driver, 2.0)

    ramp, hold = driver.marks[:2]
    assert hold.ended
    assert hold.messages_planned == pytest.approx(1750)
    assert hold.published == pytest.approx(1750, rel=0.03)
    assert ramp.published + hold.published <= fleet.counters.published
    assert hold.devices_achieved == 10


def test_connections_leave_from_the_top_as_the_plan_falls() -> None:
    fleet, loop, driver = staged_fleet()
    advance(fleet, loop, driver, 2.5)

    assert fleet.connected == 5
    assert [d.link is not None for d in fleet.devices] == [True] * 5 + [False] * 5
    assert fleet.counters.dropped_links == 0
    advance(fleet, loop, driver, 3.0)
    assert fleet.connected == 0
    assert [mark.devices_achieved for mark in driver.marks] == [10, 10, 0]
    assert driver.marks[2].published == pytest.approx(1250, rel=0.15)


def test_a_stage_s_end_is_read_before_the_next_stage_acts() -> None:
    fleet, loop, driver = staged_fleet()
    advance(fleet, loop, driver, 1.9)
    loop.now = 2.15  # a late wake-up: the plan already wants a device gone
    driver.step()

    assert driver.marks[1].devices_achieved == 10
    assert fleet.connected == 9


def test_a_run_stopped_early_marks_its_stage_cut_short() -> None:
    fleet, loop, driver = staged_fleet()
    advance(fleet, loop, driver, 1.5)
    assert [mark.number for mark in driver.ended] == [1]  # what the live report judges
    driver.stop()

    assert [mark.number for mark in driver.marks] == [1, 2]
    assert driver.marks[1].ended is False
    assert driver.marks[1].end_s == pytest.approx(1.5)


def test_a_gateway_leaves_once_the_plan_wants_none_of_its_devices() -> None:
    fleet, loop, driver = staged_fleet(per_connection=5)
    advance(fleet, loop, driver, 2.4)  # the plan wants 6 of 10: both gateways stay
    assert fleet.connected == 10
    advance(fleet, loop, driver, 2.5)  # 5 wanted: the second gateway's devices are not

    assert fleet.connected == 5
    advance(fleet, loop, driver, 3.0)
    assert [mark.devices_achieved for mark in driver.marks] == [10, 10, 0]
    assert driver.marks[0].devices_slack == 4
