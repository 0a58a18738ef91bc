"""A slice's fleet is its part of the whole fleet, device for device, and connects as the run's."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.engine.fleet import Fleet, FleetOptions
from simulator.engine.topology import Topology
from simulator.mqtt import MQTTVersion
from simulator.scenario import Scenario, validate_scenario
from simulator.scenario.segment import Segment
from tests.unit.engine.fake_fleet import onboarded

V5 = MQTTVersion.V5


def plant(devices: int = 103, **fleet: Any) -> Scenario:
    """A mix of devices on their own and behind gateways of two sizes, at two intervals."""
    return validate_scenario(
        {
            "name": "slices",
            "duration_s": 1.0,
            "fleet": {
                "devices": devices,
                "publish_interval_s": 1.0,
                "mix": [
                    {"model": "machine-sensor", "share": 0.5},
                    {"model": "cnc-machine", "share": 0.3, "devices_per_connection": 4},
                    {
                        "model": "power-meter",
                        "share": 0.2,
                        "devices_per_connection": 7,
                        "publish_interval_s": 5.0,
                    },
                ],
                **fleet,
            },
            "ingest": {"enabled": False},
        },
        "<test>",
    )


def topology(scenario: Scenario, segment: Segment) -> Topology:
    fleet = scenario.fleet
    built = Topology(fleet.groups, fleet.plant, fleet.topic, segment)
    built.build(scenario.seed, V5)
    return built


def described(built: Topology) -> dict[int, tuple[Any, ...]]:
    """Every device of a topology by its global index: what it is and how it publishes."""
    return {
        device.index: (device.device_id, device.prefix, device.phase_s, device.group)
        for device in built.devices
    }


def connections(built: Topology) -> dict[str, tuple[Any, ...]]:
    """Every connection of a topology by client id: its devices, kind and identity."""
    return {
        built.client_id(c): (
            tuple(d.index for d in built.members(c)),
            built.is_gateway(c),
            built.first_device(c),
            built.connection_identity(c),
        )
        for c in range(built.connection_count)
    }


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7])
def test_the_slices_devices_are_the_whole_fleets_exactly(count: int) -> None:
    scenario = plant()
    whole = topology(scenario, Segment())
    slices = [topology(scenario, Segment(index, count)) for index in range(count)]
    merged: dict[int, tuple[Any, ...]] = {}
    for part in slices:
        mine = described(part)
        assert not merged.keys() & mine.keys()
        merged.update(mine)
    assert merged == described(whole)
    by_client: dict[str, tuple[Any, ...]] = {}
    for part in slices:
        by_client.update(connections(part))
    assert by_client == connections(whole)


def test_a_slice_finds_its_connection_by_a_devices_global_index() -> None:
    scenario = plant()
    part = topology(scenario, Segment(1, 3))
    for connection in range(part.connection_count):
        for device in part.members(connection):
            assert part.connection_of(device.index) == connection


def test_every_slice_connects_with_the_runs_prefix_and_names_devices_without_it() -> None:
    scenario = plant(devices=12)
    fleet, _ = onboarded(
        scenario, options=FleetOptions(segment=Segment(1, 2), client_id_prefix="k3f9a2-")
    )
    assert fleet.connection_count == fleet.topology.connection_count
    sessions = [device.link.session.client_id for device in fleet.devices if device.link]
    assert sessions
    assert all(cid.startswith("k3f9a2-") for cid in sessions)
    assert {cid.removeprefix("k3f9a2-") for cid in sessions} == {
        fleet.client_id(c) for c in range(fleet.connection_count)
    }
    assert all(len(cid) <= 23 for cid in sessions)


def test_a_slice_of_more_parts_than_connections_is_empty_and_fine() -> None:
    scenario = plant(devices=3)
    fleet, _ = onboarded(scenario, options=FleetOptions(segment=Segment(5, 8)))
    assert fleet.devices == []
    assert fleet.connection_count == 0
    assert isinstance(fleet, Fleet)
