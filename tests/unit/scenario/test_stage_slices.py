"""A stage plan shared by the slices of a run: their connect times together are the whole
plan's, and their parts of each stage's planned devices and messages add up to the plan's."""

from __future__ import annotations

import pytest

from simulator.scenario.composition import Group, connection_starts
from simulator.scenario.segment import Segment
from simulator.scenario.stages import (
    QUADRATURE_STEPS,
    SliceRates,
    StagePlan,
    StageSchedule,
    StageSettings,
    message_parts,
    stage_shares,
)

# A mixed fleet: 37 direct sensors every 0.5 s, 40 devices behind gateways of 8 (the last of
# 5 gateways full) every 2 s, 23 direct robots every 1 s: 100 devices, 65 connections.
GROUPS = [
    Group("machine-sensor", "msgpack", 0.5, 0, 37),
    Group("machine-sensor", "msgpack", 2.0, 37, 40, per_connection=8),
    Group("robot", "json", 1.0, 77, 23),
]

STAGES = [
    StageSettings(duration_s=3.0, devices=61, msg_rate_per_s=90.0),  # ramp up
    StageSettings(duration_s=2.5, devices=100, msg_rate_per_s=137.0),  # ramp up further
    StageSettings(duration_s=4.0, devices=100, msg_rate_per_s=137.0),  # hold
    StageSettings(duration_s=1.5, devices=100, msg_rate_per_s=400.0),  # spike
    StageSettings(duration_s=3.0, devices=13, msg_rate_per_s=20.0),  # ramp down
    StageSettings(duration_s=2.0, devices=0, msg_rate_per_s=0.0),  # to nothing
]


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_the_slices_connect_times_together_are_the_whole_plans(count: int) -> None:
    plan = StagePlan(STAGES, GROUPS)
    starts = connection_starts(GROUPS)
    whole = StageSchedule(plan, starts)
    planned = {c: whole.start_s(c) for c in range(whole.connections)}

    dealt: dict[int, float] = {}
    for index in range(count):
        segment = Segment(index, count)
        schedule = StageSchedule(plan, starts, segment)
        for local in range(schedule.connections):
            connection = segment.global_connection(local)
            assert connection not in dealt
            dealt[connection] = schedule.start_s(local)
        assert schedule.eta_s() == max(
            (planned[c] for c in planned if segment.owns(c)), default=0.0
        )

    assert dealt == planned
    assert whole.connections == 65


def test_a_plan_that_never_reaches_the_last_devices_connects_none_of_them_in_any_slice() -> None:
    plan = StagePlan([StageSettings(duration_s=2.0, devices=40, msg_rate_per_s=10.0)], GROUPS)
    starts = connection_starts(GROUPS)
    # Devices 0..39: the 37 sensors and the first gateway (37..44), which carries 5 more.
    assert StageSchedule(plan, starts).connections == 38
    slices = [StageSchedule(plan, starts, Segment(i, 3)).connections for i in range(3)]
    assert slices == [13, 13, 12]


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_the_slices_planned_figures_add_up_to_the_plans(count: int) -> None:
    plan = StagePlan(STAGES, GROUPS)
    shares = [stage_shares(plan, Segment(i, count)) for i in range(count)]

    for number, stage in enumerate(plan.stages):
        parts = [share[number] for share in shares]
        assert sum(p.devices_planned for p in parts) == stage.devices_to
        assert sum(p.messages_planned for p in parts) == round(stage.planned_messages)


def test_a_slices_planned_devices_are_its_own_among_the_first() -> None:
    plan = StagePlan(STAGES, GROUPS)
    starts = connection_starts(GROUPS)
    for count in (2, 3):
        for index in range(count):
            segment = Segment(index, count)
            mine = {
                device
                for c in range(len(starts) - 1)
                if segment.owns(c)
                for device in range(starts[c], starts[c + 1])
            }
            shares = stage_shares(plan, segment)
            for stage, share in zip(plan.stages, shares, strict=True):
                below = sum(1 for device in mine if device < stage.devices_to)
                assert share.devices_planned == below


def test_one_slice_plans_the_whole_plans_messages_rounded() -> None:
    plan = StagePlan(STAGES, GROUPS)
    shares = stage_shares(plan)
    assert [s.messages_planned for s in shares] == [
        round(stage.planned_messages) for stage in plan.stages
    ]
    assert [s.devices_planned for s in shares] == [61, 100, 100, 100, 13, 0]


def test_in_a_hold_each_slice_plans_its_devices_share_of_the_rate() -> None:
    plan = StagePlan(STAGES, GROUPS)
    hold = plan.stages[2]
    rates = SliceRates(GROUPS, 2)
    base = rates.base(100)
    parts = message_parts(hold, rates)
    for own, part in zip(base, parts, strict=True):
        assert part == pytest.approx(hold.planned_messages * own / sum(base), rel=1e-12)


def test_a_ramps_parts_are_close_to_their_own_integral() -> None:
    # Against a rule 64 times finer: the parts at the default step are within 0.001 message of
    # it (each slice's figure is then within that and its rounding, 1, of its own integral).
    plan = StagePlan(STAGES, GROUPS)
    rates = SliceRates(GROUPS, 3)
    for stage in plan.stages:
        ours = message_parts(stage, rates)
        reference = message_parts(stage, rates, steps=QUADRATURE_STEPS * 64)
        assert sum(ours) == pytest.approx(stage.planned_messages, rel=1e-12)
        for part, exact in zip(ours, reference, strict=True):
            assert abs(part - exact) < 0.001
