"""The plant hierarchy from a scenario: its keys, their checks, and the topics a fleet builds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from simulator.engine.fleet import Fleet
from simulator.errors import ScenarioError
from simulator.fleet import PlantLayout, TopicTemplate
from simulator.fleet.plant import DEFAULT_ENTERPRISE
from simulator.mqtt import MQTTVersion, publish_prefix
from simulator.scenario import Scenario, validate_scenario
from simulator.transport.endpoint import Endpoint


def scenario(**fleet: Any) -> Scenario:
    return validate_scenario(
        {
            "name": "plant",
            "duration_s": 1.0,
            "fleet": {"devices": 40, "publish_interval_s": 1.0, **fleet},
            "ingest": {"enabled": False},
        },
        "<test>",
    )


def problems(**fleet: Any) -> dict[str, str]:
    with pytest.raises(ScenarioError) as caught:
        scenario(**fleet)
    return {problem.path: problem.message for problem in caught.value.problems}


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    # Fleet() only keeps the loop; build() never runs it.
    running = asyncio.new_event_loop()
    yield running
    running.close()


def test_defaults_keep_the_two_level_plant() -> None:
    fleet = scenario().fleet

    assert (fleet.enterprise, fleet.areas_per_site, fleet.cells_per_line) == (
        DEFAULT_ENTERPRISE,
        1,
        1,
    )


def test_hierarchy_keys_are_read() -> None:
    fleet = scenario(enterprise="globex", areas_per_site=2, cells_per_line=3).fleet

    assert (fleet.enterprise, fleet.areas_per_site, fleet.cells_per_line) == ("globex", 2, 3)


def test_bad_hierarchy_keys_are_reported_together() -> None:
    found = problems(enterprise="a/b", areas_per_site=0, cells_per_line=True)

    assert found == {
        "fleet.enterprise": "must be 1-64 letters, digits, '.', '-' or '_', got 'a/b'",
        "fleet.areas_per_site": "must be >= 1, got 0",
        "fleet.cells_per_line": "must be an integer >= 1, got boolean true",
    }


def test_more_areas_than_lines_is_refused_before_the_run() -> None:
    found = problems(lines_per_site=3, areas_per_site=4)

    assert found == {
        "fleet": "areas_per_site (4) must be at most lines_per_site (3): every area needs a line"
    }


def test_topics_use_every_level_of_the_scenarios_plant(loop: asyncio.AbstractEventLoop) -> None:
    topic = "{enterprise}/{site}/{area}/{line}/{cell}/{model}/{device}"
    settings = scenario(
        topic=topic,
        enterprise="globex",
        sites=2,
        lines_per_site=4,
        areas_per_site=2,
        cells_per_line=3,
        mix=[{"model": "cnc-machine", "count": 15}, {"model": "robot", "share": 1.0}],
    )
    fleet = Fleet(settings, Endpoint("127.0.0.1", 1883), loop=loop, wall_ns=time.time_ns)

    fleet.build()

    template = TopicTemplate(topic)
    expected: list[bytes] = []
    for name, indices in (("cnc-machine", range(15)), ("robot", range(15, 40))):
        layout = PlantLayout(
            2,
            4,
            fleet.groups[0 if name == "cnc-machine" else 1].model.id_prefix,
            enterprise="globex",
            areas_per_site=2,
            cells_per_line=3,
        )
        expected.extend(
            publish_prefix(template.render(layout.identity(index), name), MQTTVersion.V5)
            for index in indices
        )
    assert [device.prefix for device in fleet.devices] == expected
    assert b"globex/site-02/area-02/line-02/cell-02/robot/" in fleet.devices[35].prefix
