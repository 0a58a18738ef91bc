"""``[[stages]]``: the keys, their checks against the fleet, and the plan as a function of time."""

from __future__ import annotations

import math

import pytest

from simulator.scenario import load_scenario
from simulator.scenario.composition import Group, connection_starts
from simulator.scenario.stages import StagePlan, StageSchedule, StageSettings
from tests.unit.scenario.conftest import Problems, WriteScenario

FLEET = "[fleet]\ndevices = 100\npublish_interval_s = 1.0\n"


def stage(duration_s: float, devices: int, rate: float) -> str:
    return f"[[stages]]\nduration_s = {duration_s}\ndevices = {devices}\nmsg_rate_per_s = {rate}\n"


def plan_of(*stages: tuple[float, int, float], groups: list[Group] | None = None) -> StagePlan:
    settings = [StageSettings(duration_s=d, devices=n, msg_rate_per_s=r) for d, n, r in stages]
    return StagePlan(settings, groups or [Group("machine-sensor", "msgpack", 1.0, 0, 100)])


def test_the_run_lasts_the_stages_total(write_scenario: WriteScenario) -> None:
    scenario = load_scenario(write_scenario(FLEET + stage(2, 50, 50) + stage(3.5, 100, 100)))

    assert scenario.duration_s == 5.5
    assert [s.devices for s in scenario.stages] == [50, 100]


def test_without_stages_a_scenario_has_none(write_scenario: WriteScenario) -> None:
    assert load_scenario(write_scenario("duration_s = 5\n" + FLEET)).stages == []


def test_a_bad_stage_key_is_named(problems: Problems) -> None:
    found = problems(
        FLEET + "[[stages]]\nduration_s = 0\ndevices = 1\nmsg_rate_per_s = 1\nspeed = 2\n"
    )

    assert {"stages.0.duration_s", "stages.0.speed"} <= {problem.path for problem in found}


def test_stages_that_do_not_fit_the_fleet_are_named_by_key(problems: Problems) -> None:
    found = problems(
        FLEET
        + stage(2, 150, 10)  # beyond the fleet
        + stage(2, 50, 10)
        + stage(2, 80, 10)  # rises after falling
        + stage(2, 0, 5)  # a rate nobody is left to offer
    )

    by_path = {problem.path: problem.message for problem in found}
    assert set(by_path) == {"stages.0.devices", "stages.2.devices", "stages.3.msg_rate_per_s"}
    assert "at most [fleet] devices (100)" in by_path["stages.0.devices"]
    assert "may not rise again" in by_path["stages.2.devices"]
    assert "must be 0" in by_path["stages.3.msg_rate_per_s"]


def test_a_rate_far_beyond_the_devices_own_is_refused(problems: Problems) -> None:
    found = problems(FLEET + stage(2, 10, 10_000))

    assert [problem.path for problem in found] == ["stages.0.msg_rate_per_s"]
    assert "at most 64" in found[0].message


def test_a_duration_a_message_quota_and_a_connect_rate_are_refused(problems: Problems) -> None:
    text = "duration_s = 9\n" + FLEET + "messages_per_device = 3\n" + stage(2, 10, 10)
    found = problems(text + "[onboarding]\nrate_per_s = 50.0\n")

    assert {problem.path for problem in found} == {
        "duration_s",
        "fleet.messages_per_device",
        "onboarding.rate_per_s",
    }


def test_the_plan_ramps_linearly_from_an_empty_fleet() -> None:
    plan = plan_of((10, 100, 200), (5, 100, 200), (2, 100, 600), (10, 0, 0))

    assert plan.total_s == 27
    assert plan.at(0) == (0.0, 0.0)
    assert plan.at(5) == (50.0, 100.0)
    assert plan.at(12) == (100.0, 200.0)
    assert plan.at(16) == (100.0, 400.0)
    assert plan.at(22) == (50.0, 300.0)
    assert plan.at(100) == (0.0, 0.0)
    numbers = [plan.stage_at(t) for t in (0, 10, 10.01, 15, 16, 27)]
    assert [stage.number for stage in numbers if stage is not None] == [1, 1, 2, 2, 3, 4]
    assert plan.stage_at(27.1) is None
    assert [s.planned_messages for s in plan.stages] == [1000, 1000, 800, 3000]


def test_the_factor_makes_the_planned_devices_offer_the_planned_rate() -> None:
    plan = plan_of((10, 100, 200), (2, 100, 50), (2, 100, 0))

    assert plan.factor(5) == pytest.approx(2.0)  # 50 devices at 1/s offer 100/s
    assert plan.factor(11) == pytest.approx(125 / 100)
    assert plan.factor(14) == 0.0


def test_the_factor_counts_each_group_at_its_own_interval() -> None:
    groups = [
        Group("machine-sensor", "msgpack", 1.0, 0, 50),
        Group("robot", "msgpack", 0.5, 50, 50),
    ]
    plan = plan_of((1, 100, 300), groups=groups)

    assert plan.base_rate(100) == pytest.approx(50 + 100)
    assert plan.base_rate(60) == pytest.approx(50 + 20)
    assert plan.factor(1) == pytest.approx(2.0)


def test_connections_start_when_the_target_reaches_their_first_device() -> None:
    groups = [Group("machine-sensor", "msgpack", 1.0, 0, 100, per_connection=10)]
    plan = plan_of((10, 100, 100), (5, 40, 40), groups=groups)
    schedule = StageSchedule(plan, connection_starts(groups))

    assert schedule.connections == 10
    assert schedule.start_s(0) == pytest.approx(0.1)  # device 0 wanted once 1 is
    assert schedule.start_s(9) == pytest.approx(9.1)
    assert schedule.eta_s() == pytest.approx(9.1)
    assert plan.first_reaching(101) == math.inf


def test_a_plan_that_never_reaches_the_whole_fleet_connects_only_what_it_asks() -> None:
    groups = [Group("machine-sensor", "msgpack", 1.0, 0, 100)]
    plan = plan_of((4, 40, 40), groups=groups)
    schedule = StageSchedule(plan, connection_starts(groups))

    assert schedule.connections == 40
    assert schedule.start_s(39) == pytest.approx(4.0)
