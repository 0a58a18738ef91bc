"""The /metrics server over real HTTP on loopback: figures follow the provider, the port is
freed on stop, and a taken port is a clear error."""

from __future__ import annotations

import socket
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from simulator.errors import MetricsPortError
from simulator.metrics.prometheus import MetricsServer
from simulator.metrics.timeseries import Totals


def fetch(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.headers["Content-Type"], response.read().decode()


def sample_values(text: str) -> dict[str, float]:
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if "le" not in sample.labels
    }


def can_bind(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class GrowingRun:
    """A provider whose run publishes 250 more messages between scrapes."""

    def __init__(self) -> None:
        self.latest: Totals | None = None

    def __call__(self) -> Totals | None:
        return self.latest

    def advance(self) -> None:
        published = self.latest.published + 250 if self.latest is not None else 250
        totals = Totals(t_s=published / 250, devices_target=50, connected=50, published=published)
        totals.latency_us.record(1_800)
        self.latest = totals


def test_scrapes_follow_the_run_and_stop_frees_the_port() -> None:
    run = GrowingRun()
    server = MetricsServer(run, 0, info={"scenario": "growing", "broker": "mqtt://127.0.0.1:1"})
    server.start()
    try:
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}/metrics"

        content_type, before_run = fetch(server.url)
        assert content_type.startswith("text/plain")
        assert "factory_sim_info{" in before_run
        assert "factory_sim_messages_published_total" not in before_run

        run.advance()
        first = sample_values(fetch(server.url)[1])
        run.advance()
        second = sample_values(fetch(server.url)[1])
    finally:
        server.stop()

    published = "factory_sim_messages_published_total"
    assert 0 < first[published] < second[published]
    assert second["factory_sim_latency_seconds_count"] == 1
    assert can_bind(server.port)
    server.stop()  # a second stop is harmless


def test_a_taken_port_is_an_error_naming_it() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(MetricsPortError, match=f"port {port} is already in use") as caught:
            MetricsServer(lambda: None, port).start()
    assert caught.value.port == port


def test_the_context_manager_serves_the_ingest_role_and_stops() -> None:
    totals = Totals(t_s=1.0, received=7, ingested=6, duplicated=1)
    with MetricsServer(lambda: totals, 0, role="ingest") as server:
        values = sample_values(fetch(server.url)[1])
        port = server.port
    assert values["factory_sim_messages_ingested_total"] == 6
    assert "factory_sim_messages_published_total" not in values
    assert can_bind(port)
