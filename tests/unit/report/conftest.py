"""Reports built the way a run builds them, for threshold, JUnit and compare tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from simulator.metrics.histogram import Histogram
from simulator.metrics.ingest import IngestSnapshot
from simulator.report.json_report import RunFigures, as_dict, build_report

MakeReport = Callable[..., dict[str, Any]]


def _histogram(values_us: list[int]) -> Histogram:
    hist = Histogram()
    for value in values_us:
        hist.record(value)
    return hist


@pytest.fixture
def make_report() -> MakeReport:
    """Build a report with :func:`build_report`; keyword arguments replace run figures.

    ``latency_us`` gives the ingest latencies recorded; ``ingest=False`` leaves ingest out, so
    every ingest figure is ``null``.
    """

    def build(
        latency_us: list[int] | None = None,
        ingest: bool = True,
        unique: int = 1000,
        duplicated: int = 0,
        **changes: Any,
    ) -> dict[str, Any]:
        figures: dict[str, Any] = {
            "scenario": "trial",
            "scenario_path": "trial.toml",
            "broker_url": "mqtt://127.0.0.1:1883",
            "mqtt_version": "5",
            "devices_target": 100,
            "devices_connected": 100,
            "devices_failed": 0,
            "failures": {},
            "dropped_links": 0,
            "onboarding_s": 0.5,
            "connect_us": _histogram([2000, 3000, 4000]),
            "tcp_us": _histogram([500, 700]),
            "published": 1000,
            "acked": 1000,
            "publish_window_s": 10.0,
            "overrun": 0,
            "baseline_rss_bytes": 50_000_000,
            "connected_rss_bytes": 51_000_000,
            "peak_rss_bytes": 52_000_000,
            "ingest": None,
            "drain_s": 0.2,
        }
        if ingest:
            figures["ingest"] = IngestSnapshot(
                received=unique + duplicated,
                unique=unique,
                duplicated=duplicated,
                out_of_order=0,
                missing=0,
                malformed=0,
                latency_us=_histogram(latency_us if latency_us is not None else [4700]),
                committed_rows=unique,
                committed_unique=unique,
                sink_kind="sqlite",
                first_recv_ns=0,
                last_recv_ns=10_000_000_000,
            )
        figures.update(changes)
        return as_dict(build_report(RunFigures(**figures)))

    return build
