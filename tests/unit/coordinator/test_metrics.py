"""Each worker's figures on /metrics, labelled by its slice."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from simulator.coordinator.metrics import WorkersCollector
from simulator.coordinator.workers import Worker, Workers
from simulator.metrics.progress import FleetProgress


def worker(index: int, connected: int, published: int) -> Worker:
    made = Worker(
        index, 2, [], "{}", Path(f"slice-{index}.json"), say=lambda text: None, clock=lambda: 0.0
    )
    made.progress = FleetProgress(
        "publishing",
        devices_target=10,
        connected=connected,
        connected_low=connected,
        onboarded=connected,
        published=published,
    )
    return made


def test_every_worker_is_a_sample_of_its_own() -> None:
    workers = Workers([worker(0, 10, 120), worker(1, 9, 100)])
    registry = CollectorRegistry()
    registry.register(WorkersCollector(workers))
    text = generate_latest(registry).decode()
    assert 'factory_sim_worker_devices_connected{role="simulator",worker="0/2"} 10.0' in text
    assert 'factory_sim_worker_devices_connected{role="simulator",worker="1/2"} 9.0' in text
    assert (
        'factory_sim_worker_messages_published_total{role="simulator",worker="1/2"} 100.0' in text
    )
    assert workers.connected == 19
    assert workers.counters.published == 220
    assert len(workers.devices) == 20


async def test_a_dip_between_two_lines_counts_only_from_lines_that_came_since() -> None:
    now = [0.0]
    first, second = worker(0, 10, 0), worker(1, 9, 0)
    for made in (first, second):
        made._clock = lambda: now[0]
    workers = Workers([first, second])
    lines = [
        (first, 1.0, 10, 2),  # a dip to 2 between lines, from before the moment asked about
        (second, 1.0, 9, 9),
        (second, 3.0, 9, 4),  # a dip to 4 in the interval of a line that came after it
    ]
    for made, at, connected, low in lines:
        now[0] = at
        progress = FleetProgress("publishing", 10, connected, low, connected)
        stream = asyncio.StreamReader()
        stream.feed_data(json.dumps({"progress": progress.to_dict()}).encode() + b"\n")
        stream.feed_eof()
        await made._read(stream)
    assert workers.fewest_connected_since(2.0) == 10 + 4
    assert workers.fewest_connected() == 2 + 4
