"""Whether onboarding kept to its plan, and the reason named when it did not."""

from __future__ import annotations

from typing import Any

from simulator.report.onboarding_plan import onboarding_plan, publishing_plan

PLAN: dict[str, Any] = {
    "connections": 10_000,
    "connected": 10_000,
    "planned_s": 2.0,
    "max_in_flight": 100,
    "connect_p50_ms": 5.0,
    "connect_p99_ms": 40.0,
    "retries": 0,
}


def test_on_time_within_the_tolerance_and_the_last_connect() -> None:
    plan = onboarding_plan(**PLAN, achieved_s=2.0 * 1.05 + 0.04)
    assert plan["kept"] is True
    assert plan["behind"] is None
    assert plan["planned_rate_per_s"] == 5000.0


def test_the_in_flight_bound_is_named_with_its_numbers() -> None:
    plan = onboarding_plan(**{**PLAN, "connect_p50_ms": 74.0}, achieved_s=7.4)
    assert plan["kept"] is False
    assert plan["achieved_rate_per_s"] == 1351.4
    assert plan["behind"] == (
        "onboarding took 7.4 s instead of 2.0 s: at most [onboarding] max_in_flight = 100 "
        "connects are pending at once and each took 74 ms (p50), so at most 1,351 of the "
        "planned 5,000 connects/s; raise max_in_flight, or find why the broker answers "
        "CONNECT slowly"
    )


def test_retries_are_named_when_the_window_was_wide_enough() -> None:
    plan = onboarding_plan(**{**PLAN, "retries": 120}, achieved_s=4.0)
    assert plan["behind"] is not None
    assert "120 connects failed and were tried again" in plan["behind"]


def test_otherwise_the_simulator_was_too_busy() -> None:
    plan = onboarding_plan(**PLAN, achieved_s=4.0)
    assert plan["behind"] is not None
    assert "could not start connects on time" in plan["behind"]


def test_a_plan_too_short_to_judge_is_not_judged() -> None:
    plan = onboarding_plan(**{**PLAN, "connections": 100, "planned_s": 0.05}, achieved_s=0.5)
    assert plan["kept"] is None
    assert plan["behind"] is None


def samples(phase_rates: list[tuple[str, float]], cpu: float = 50.0) -> list[dict[str, Any]]:
    return [
        {"phase": phase, "published_per_s": rate, "cpu_percent": cpu} for phase, rate in phase_rates
    ]


def test_publishing_is_judged_on_the_publishing_phase_only() -> None:
    series = samples([("onboarding", 10.0), ("publishing", 990.0), ("publishing", 1000.0)])
    plan = publishing_plan(1000.0, [*series, *samples([("draining", 0.0)])], overrun=0)
    assert (plan["achieved_per_s"], plan["kept"], plan["behind"]) == (995.0, True, None)


def test_a_simulator_behind_its_schedule_says_it_is_its_own_limit() -> None:
    plan = publishing_plan(60_000.0, samples([("publishing", 48_000.0)], cpu=99.0), overrun=120_000)
    assert plan["kept"] is False
    assert plan["behind"] == (
        "published 48,000 of the planned 60,000 msg/s: the simulator fell behind its own "
        "schedule (120,000 sends ran late; its CPU was up to 99 % of a core), so this is the "
        "simulator's limit, not the platform's: use more worker processes (--workers)"
    )


def test_a_simulator_on_schedule_points_at_the_connections() -> None:
    plan = publishing_plan(1000.0, samples([("publishing", 700.0)]), overrun=0)
    assert plan["behind"] is not None
    assert "although the simulator kept its schedule" in plan["behind"]


def test_no_publishing_sample_is_not_judged() -> None:
    plan = publishing_plan(1000.0, samples([("onboarding", 10.0)]), overrun=0)
    assert (plan["achieved_per_s"], plan["kept"]) == (None, None)
