"""Several ingest workers split the topic space exactly: every device to one worker."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from simulator.fleet import PlantLayout, TopicTemplate, get_model
from simulator.mqtt.topics import matches
from simulator.scenario import validate_scenario
from simulator.scenario.partition import ingest_partitions
from simulator.scenario.schema import FleetSettings


def fleet(**settings: Any) -> FleetSettings:
    data = {
        "name": "p",
        "duration_s": 1.0,
        "fleet": {"devices": 240, "publish_interval_s": 1.0, **settings},
    }
    return validate_scenario(data, "<test>").fleet


def owners(settings: FleetSettings, parts: tuple[tuple[str, ...], ...]) -> Counter[int]:
    """How many devices each worker's filters match; each device must match exactly one."""
    template = TopicTemplate(settings.topic)
    counts: Counter[int] = Counter()
    for group in settings.groups:
        model = get_model(group.model)
        layout = PlantLayout(
            settings.sites,
            settings.lines_per_site,
            model.id_prefix,
            enterprise=settings.enterprise,
            areas_per_site=settings.areas_per_site,
            cells_per_line=settings.cells_per_line,
        )
        for index in range(group.start, group.start + group.count):
            topic = template.render(layout.identity(index), model.name)
            hits = [k for k, part in enumerate(parts) for f in part if matches(f, topic)]
            assert len(hits) == 1, (topic, hits)
            counts[hits[0]] += 1
    return counts


@pytest.mark.parametrize("workers", [1, 2, 3, 4, 8])
def test_every_device_belongs_to_exactly_one_worker_and_the_split_is_even(workers: int) -> None:
    settings = fleet(sites=2, lines_per_site=4)
    parts = ingest_partitions(settings, workers)
    assert len(parts) == workers
    counts = owners(settings, parts)
    assert sum(counts.values()) == 240
    # 8 places of 30 devices each, dealt round-robin: at most one place apart.
    assert max(counts.values()) - min(counts.values()) <= 30


def test_models_named_in_the_topic_split_too() -> None:
    settings = fleet(
        sites=1,
        lines_per_site=1,
        topic="plant/{model}/{device}",
        mix=[{"model": "machine-sensor", "share": 0.5}, {"model": "power-meter", "share": 0.5}],
    )
    parts = ingest_partitions(settings, 2)
    assert sorted(f for part in parts for f in part) == [
        "plant/machine-sensor/+",
        "plant/power-meter/+",
    ]
    assert sorted(owners(settings, parts).values()) == [120, 120]


def test_a_template_without_places_cannot_be_split() -> None:
    assert ingest_partitions(fleet(topic="plant/{device}/data"), 4) == (("plant/+/data",),)


def test_fewer_places_than_workers_gives_fewer_workers() -> None:
    assert len(ingest_partitions(fleet(sites=1, lines_per_site=3), 8)) == 3
