"""The stage driver on a real fleet of fakes (``fake_fleet``): the rate it sets is what the
wheels send, connections leave from the top as the plan falls, and each stage's mark is read
at its end, before anything of the next stage happens."""

from __future__ import annotations

import asyncio

import pytest

from simulator.engine.fleet import Fleet, FleetOptions
from simulator.engine.staging import StageDriver
from simulator.metrics.stages import StageMark, summed_marks
from simulator.scenario import validate_scenario
from simulator.scenario.composition import connection_starts
from simulator.scenario.segment import WHOLE, Segment
from simulator.scenario.stages import StagePlan, StageSchedule
from tests.unit.engine.fake_fleet import built, run_until
from tests.unit.engine.fake_loop import FakeLoop

STAGES = [
    {"duration_s": 1.0, "devices": 10, "msg_rate_per_s": 1000.0},
    {"duration_s": 1.0, "devices": 10, "msg_rate_per_s": 2500.0},
    {"duration_s": 1.0, "devices": 0, "msg_rate_per_s": 0.0},
]


def staged_fleet(
    per_connection: int = 1, segment: Segment = WHOLE
) -> tuple[Fleet, FakeLoop, StageDriver]:
    """10 devices every 10 ms (1,000 msg/s at their own rate) on the stages above, every
    connection made at 0 by the fake connector, the driver in place before onboarding; the
    fleet slice ``segment`` of them."""
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
    fleet, loop = built(scenario, options=FleetOptions(segment=segment))
    plan = StagePlan(scenario.stages, scenario.fleet.groups)
    schedule = StageSchedule(plan, connection_starts(scenario.fleet.groups), segment)
    driver = StageDriver(
        plan,
        fleet,
        clock=loop.time,
        start=0.0,
        connections=schedule.connections,
        segment=segment,
    )
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
    # What the plan asked until then: 1,000 msg/s rising to 1,750 over half a second.
    assert driver.marks[1].messages_planned == pytest.approx(687.5)


def test_a_gateway_leaves_once_the_plan_wants_none_of_its_devices() -> None:
    fleet, loop, driver = staged_fleet(per_connection=5)
    advance(fleet, loop, driver, 2.4)  # the plan wants 6 of 10: both gateways stay
    assert fleet.connected == 10
    advance(fleet, loop, driver, 2.5)  # 5 wanted: the second gateway's devices are not

    assert fleet.connected == 5
    advance(fleet, loop, driver, 3.0)
    assert [mark.devices_achieved for mark in driver.marks] == [10, 10, 0]
    assert driver.marks[0].devices_slack == 4


def test_slices_follow_the_whole_plan_and_their_marks_add_up_to_it() -> None:
    whole, whole_loop, whole_driver = staged_fleet()
    slices = [staged_fleet(segment=Segment(index, 2)) for index in range(2)]
    advance(whole, whole_loop, whole_driver, 2.5)
    for fleet, loop, driver in slices:
        advance(fleet, loop, driver, 2.5)

    # 5 devices wanted: the slices keep their own among the first 5 (global indexes).
    kept = sorted(d.index for fleet, _, _ in slices for d in fleet.devices if d.link is not None)
    assert kept == [0, 1, 2, 3, 4]
    for fleet, loop, driver in slices:
        advance(fleet, loop, driver, 3.0)
    advance(whole, whole_loop, whole_driver, 3.0)

    assert [m.devices_planned for m in slices[0][2].marks] == [5, 5, 0]
    assert [m.devices_planned for m in slices[1][2].marks] == [5, 5, 0]
    summed = summed_marks([[vars_of(mark) for mark in driver.marks] for _, _, driver in slices])
    for ours, one in zip(summed, whole_driver.marks, strict=True):
        assert ours.devices_planned == one.devices_planned
        assert ours.messages_planned == one.messages_planned
        assert ours.devices_achieved == one.devices_achieved
        assert ours.rising == one.rising
        assert ours.ended
        assert one.ended
        # The same factor on the same devices (each keeps its global phase): the slices
        # publish what one process does.
        assert ours.published == one.published


def vars_of(mark: StageMark) -> dict[str, object]:
    """A mark as a report's stage shows its counts."""
    return {
        "number": mark.number,
        "start_s": mark.start_s,
        "end_s": mark.end_s,
        "devices_planned": mark.devices_planned,
        "devices_slack": mark.devices_slack,
        "messages_planned": mark.messages_planned,
        "devices_achieved": mark.devices_achieved,
        "published": mark.published,
        "overrun": mark.overrun,
        "inflight_blocked": mark.inflight_blocked,
        "connect_failed": mark.connect_failed,
        "ended": mark.ended,
    }
