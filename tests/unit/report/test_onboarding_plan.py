"""Whether onboarding kept to its plan, and the reason named when it did not."""

from __future__ import annotations

from typing import Any

from simulator.report.onboarding_plan import onboarding_plan

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
