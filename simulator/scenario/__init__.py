"""Scenarios: the strict TOML schema, the loader that reports every problem at once, and the plan.

The public names::

    load_scenario(path, overrides) -> Scenario      read, override, validate (loader)
    Overrides                                       command-line values that replace the file's
    Scenario and its tables                         frozen, strict pydantic models (schema)
    parse_broker_url(url) -> BrokerAddress          mqtt://host[:port] (broker_url)
    OnboardingPlan, publish_phase_s, ...            who connects and publishes when (plan)

Everything here is pure: no sockets, no event loop, no clock.
"""

from simulator.errors import PlanError
from simulator.scenario.broker_url import BrokerAddress, parse_broker_url
from simulator.scenario.loader import OVERRIDE_TARGETS, Overrides, load_scenario, validate_scenario
from simulator.scenario.plan import OnboardingPlan, expected_messages, publish_phase_s, publish_slot
from simulator.scenario.schema import (
    BrokerSettings,
    FleetSettings,
    IngestSettings,
    OnboardingSettings,
    Scenario,
)

__all__ = [
    "OVERRIDE_TARGETS",
    "BrokerAddress",
    "BrokerSettings",
    "FleetSettings",
    "IngestSettings",
    "OnboardingPlan",
    "OnboardingSettings",
    "Overrides",
    "PlanError",
    "Scenario",
    "expected_messages",
    "load_scenario",
    "parse_broker_url",
    "publish_phase_s",
    "publish_slot",
    "validate_scenario",
]
