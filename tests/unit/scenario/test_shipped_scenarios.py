"""Every scenario in ``scenarios/`` loads, and the plant scenarios hold what their comments say."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from simulator.errors import ResourceLimitError
from simulator.fleet import PlantLayout, TopicTemplate
from simulator.platform_side import topic_filter_for
from simulator.runner import connections_needed
from simulator.scenario import Scenario, load_scenario
from simulator.transport.limits import Demand, Machine, preflight

SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"
SHIPPED = sorted(SCENARIOS.glob("*.toml"))

# Mosquitto's default listen backlog; more connects in flight overflow its accept queue.
LISTEN_BACKLOG = 100
# What one process and one Mosquitto hold under an open-file limit of 20,000.
CONNECTIONS_PER_PROCESS = 19_000


def load(stem: str) -> Scenario:
    return load_scenario(SCENARIOS / f"{stem}.toml")


def messages_per_s(scenario: Scenario) -> float:
    return sum(group.count / group.interval_s for group in scenario.fleet.groups)


def test_the_plant_scenarios_are_shipped() -> None:
    names = {path.stem for path in SHIPPED}

    assert {"mixed-plant", "cold-start", "gateway-storm", "million"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=[path.stem for path in SHIPPED])
def test_every_shipped_scenario_loads(path: Path) -> None:
    scenario = load_scenario(path)

    assert scenario.name == path.stem
    assert scenario.onboarding.max_in_flight <= LISTEN_BACKLOG
    brokers = len(scenario.broker.addresses) or scenario.broker.instances
    assert connections_needed(scenario) / brokers <= CONNECTIONS_PER_PROCESS


@pytest.mark.parametrize("path", SHIPPED, ids=[path.stem for path in SHIPPED])
def test_every_shipped_topic_renders_for_the_first_and_last_device(path: Path) -> None:
    fleet = load_scenario(path).fleet
    layout = PlantLayout(
        fleet.sites,
        fleet.lines_per_site,
        enterprise=fleet.enterprise,
        areas_per_site=fleet.areas_per_site,
        cells_per_line=fleet.cells_per_line,
    )
    template = TopicTemplate(fleet.topic)

    for index in (0, fleet.devices - 1):
        topic = template.render(layout.identity(index), fleet.model)
        assert topic.startswith(topic_filter_for(fleet.topic).removesuffix("#"))


def test_mixed_plant_mixes_models_intervals_and_formats() -> None:
    scenario = load("mixed-plant")
    groups = scenario.fleet.groups

    assert sum(group.count for group in groups) == 5000
    assert {group.model for group in groups} == {
        "cnc-machine",
        "plc-line",
        "moulding-machine",
        "robot",
        "power-meter",
        "vibration-sensor",
        "environment-sensor",
    }
    assert {group.payload for group in groups} == {"msgpack", "sparkplug"}
    assert len({group.interval_s for group in groups}) >= 4
    counts = {group.model: group.count for group in groups}
    assert counts["cnc-machine"] == 750
    assert counts["vibration-sensor"] == 1250
    # The header promises about 4,450 messages per second.
    assert messages_per_s(scenario) == pytest.approx(4450)
    assert scenario.fleet.devices_per_connection == 1


def test_mixed_plant_spreads_every_model_over_every_cell() -> None:
    fleet = load("mixed-plant").fleet
    layout = PlantLayout(
        fleet.sites,
        fleet.lines_per_site,
        areas_per_site=fleet.areas_per_site,
        cells_per_line=fleet.cells_per_line,
    )
    cells = fleet.sites * fleet.lines_per_site * fleet.cells_per_line

    assert cells == 48
    for group in fleet.groups:
        placed = Counter(
            (i.site, i.area, i.line, i.cell)
            for i in map(layout.identity, range(group.start, group.start + group.count))
        )
        assert len(placed) == cells, group.model
    assert "{enterprise}" in fleet.topic
    assert "{cell}" in fleet.topic


def test_cold_start_onboards_everything_at_once_and_gates_on_it() -> None:
    scenario = load("cold-start")
    onboarding = scenario.onboarding

    # Every connect is due within half a second: the pace is the broker's, not the plan's.
    assert scenario.fleet.devices / onboarding.rate_per_s <= 0.5
    assert onboarding.max_in_flight == LISTEN_BACKLOG
    assert scenario.model_dump()["thresholds"] == {
        "onboarding.connect_ms.p99": "< 1000",
        "messages.lost": "== 0",
    }
    assert scenario.ingest.enabled


def test_gateway_storm_has_gateways_wills_and_quick_reconnects() -> None:
    scenario = load("gateway-storm")
    fleet = scenario.fleet
    onboarding = scenario.onboarding

    assert fleet.devices_per_connection == 50
    assert connections_needed(scenario) == 100
    assert onboarding.reconnect
    assert onboarding.reconnect_min_s < 1.0
    assert onboarding.reconnect_max_s <= 5.0
    assert fleet.will is not None
    # A will under the telemetry's root would reach ingest and count as a malformed message.
    telemetry_root = topic_filter_for(fleet.topic).removesuffix("#")
    assert not fleet.will.topic.startswith(telemetry_root)
    assert scenario.broker.mqtt_version == "5"
    assert not scenario.broker.clean_start
    assert scenario.broker.session_expiry_s > 0


def test_million_fits_one_process_behind_gateways() -> None:
    scenario = load("million")
    fleet = scenario.fleet

    assert fleet.devices == 1_000_000
    assert fleet.devices_per_connection == 53
    assert connections_needed(scenario) == 18_868
    # The last gateway carries what is left over, as the comment says.
    assert fleet.devices - 18_867 * 53 == 49
    assert fleet.publish_interval_s == 60.0
    assert messages_per_s(scenario) == pytest.approx(16_666.7, rel=1e-4)
    assert scenario.duration_s == 300.0
    assert scenario.ingest.enabled
    # 1,000 cells of 1,000 devices.
    cells = fleet.sites * fleet.lines_per_site * fleet.cells_per_line
    assert (cells, fleet.devices // cells) == (1000, 1000)
    # About 19 s of onboarding.
    assert 18 < connections_needed(scenario) / scenario.onboarding.rate_per_s < 20


def test_direct_100k_fits_this_machine_as_six_slices_and_not_as_one() -> None:
    scenario = load("direct-100k")
    fleet = scenario.fleet
    connections = connections_needed(scenario)
    assert (connections, fleet.devices) == (100_000, 100_000)
    assert (fleet.publish_interval_s, scenario.duration_s) == (10.0, 60.0)
    brokers = scenario.broker.instances
    sources = len(scenario.onboarding.source_pool)
    machine = Machine(20_000, 19_968, 28_232, 24 * 2**30)
    with pytest.raises(ResourceLimitError, match="split the fleet over 6 simulator processes"):
        preflight(Demand(connections, brokers, sources, 1, local_brokers=True), machine)
    preflight(Demand(-(-connections // 6), brokers, sources, 1, local_brokers=True), machine)
    # Each broker holds its share of the whole fleet, with its ingest worker.
    assert -(-connections // brokers) + 1 <= machine.broker_open_files
