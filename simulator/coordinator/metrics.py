"""Each worker's figures on the coordinator's ``/metrics``, labelled by its slice.

The run's families (``factory_sim_devices_connected``...) carry the workers added up, as for
any run; these carry each worker apart (``worker="1/4"``), so a dashboard can show a worker
that falls behind the others.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from simulator.coordinator.workers import Workers

PREFIX = "factory_sim_worker_"


class WorkersCollector:
    """A Prometheus collector of every worker's latest progress line."""

    def __init__(self, workers: Workers, role: str = "simulator") -> None:
        self.workers = workers
        self.role = role

    def collect(self) -> Iterator[Metric]:
        """One family per figure, one sample per worker."""
        labels = ["role", "worker"]
        connected = GaugeMetricFamily(
            PREFIX + "devices_connected", "Devices connected now, by worker.", labels=labels
        )
        target = GaugeMetricFamily(
            PREFIX + "devices_target", "Devices of the worker's slice.", labels=labels
        )
        published = CounterMetricFamily(
            PREFIX + "messages_published", "Messages the worker's devices sent.", labels=labels
        )
        failed = CounterMetricFamily(
            PREFIX + "connect_failures", "Device connects that failed, by worker.", labels=labels
        )
        overrun = CounterMetricFamily(
            PREFIX + "scheduler_overrun", "Sends that ran late, by worker.", labels=labels
        )
        for worker in self.workers.workers:
            values = [self.role, f"{worker.index}/{worker.count}"]
            progress = worker.progress
            connected.add_metric(values, progress.connected)
            target.add_metric(values, progress.devices_target)
            published.add_metric(values, progress.published)
            failed.add_metric(values, progress.connect_failed)
            overrun.add_metric(values, progress.overrun)
        yield from (connected, target, published, failed, overrun)
