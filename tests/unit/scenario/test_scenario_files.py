"""The scenarios shipped in ``scenarios/`` load and say what their comments promise."""

from __future__ import annotations

from pathlib import Path

from simulator.scenario import OnboardingPlan, expected_messages, load_scenario

SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"


def test_quickstart_loads_as_documented() -> None:
    scenario = load_scenario(SCENARIOS / "quickstart.toml")

    assert scenario.name == "quickstart"
    assert scenario.duration_s == 20.0
    assert scenario.broker.url is None
    assert scenario.broker.address is None
    assert scenario.fleet.devices == 1000
    assert scenario.fleet.publish_interval_s == 1.0
    assert scenario.onboarding.rate_per_s == 2000.0
    assert scenario.ingest.sqlite_path == "runs/quickstart.sqlite"
    # The comments promise onboarding within half a second and 1,000 messages per second.
    assert OnboardingPlan(1000, scenario.onboarding.rate_per_s).eta_s() < 0.5
    assert expected_messages(1000, 1.0, 20.0) == 20_000


def test_load_10k_loads_as_documented() -> None:
    scenario = load_scenario(SCENARIOS / "load-10k.toml")

    assert scenario.name == "load-10k"
    assert scenario.fleet.devices == 10_000
    assert scenario.fleet.publish_interval_s == 1.0
    assert scenario.duration_s == 60.0
    assert scenario.onboarding.rate_per_s == 5000.0
    assert scenario.onboarding.max_in_flight == 100
    plan = OnboardingPlan(scenario.fleet.devices, scenario.onboarding.rate_per_s)
    assert 1.9 < plan.eta_s() < 2.0
    assert expected_messages(10_000, 1.0, 60.0) == 600_000
