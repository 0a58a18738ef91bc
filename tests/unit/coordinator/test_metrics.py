"""Each worker's figures on /metrics, labelled by its slice."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from simulator.coordinator.metrics import WorkersCollector
from simulator.coordinator.workers import Worker, Workers
from simulator.metrics.progress import FleetProgress


def worker(index: int, connected: int, published: int) -> Worker:
    made = Worker(index, 2, [], "{}", Path(f"slice-{index}.json"), say=lambda text: None)
    made.progress = FleetProgress("publishing", 10, connected, connected, 0, published)
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
