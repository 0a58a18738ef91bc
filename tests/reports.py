"""Reports built the way a run builds them, for the tests of what reads, checks or shows them."""

from __future__ import annotations

from typing import Any

from simulator.metrics.histogram import Histogram
from simulator.metrics.ingest import IngestSnapshot
from simulator.metrics.timeseries import TimeSeries, Totals
from simulator.report.json_report import RunFigures, as_dict, build_report


def histogram(values_us: list[int]) -> Histogram:
    """A histogram holding ``values_us``."""
    hist = Histogram()
    for value in values_us:
        hist.record(value)
    return hist


def built_report(
    *,
    latency_us: list[int] | None = None,
    ingest: bool = True,
    unique: int = 1000,
    duplicated: int = 0,
    window_s: float = 10.0,
    **changes: Any,
) -> dict[str, Any]:
    """A report built with :func:`build_report` from the figures of a healthy 100-device run;
    keyword arguments replace run figures.

    ``latency_us`` gives the ingest latencies recorded; ``ingest=False`` leaves ingest out, so
    every ingest figure is ``null``. Publishing and ingest both lasted ``window_s``, which
    sets the throughput.
    """
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
        "connect_us": histogram([2000, 3000, 4000]),
        "tcp_us": histogram([500, 700]),
        "published": 1000,
        "acked": 1000,
        "publish_window_s": window_s,
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
            latency_us=histogram(latency_us if latency_us is not None else [4700]),
            committed_rows=unique,
            committed_unique=unique,
            sink_kind="sqlite",
            first_recv_ns=0,
            last_recv_ns=round(window_s * 1e9),
        )
    figures.update(changes)
    return as_dict(build_report(RunFigures(**figures)))


def fake_timeseries(seconds: int, devices: int = 1000) -> list[dict[str, Any]]:
    """Samples of a plausible run: onboarding, publishing at one message per device per
    second with a few losses and duplicates, then draining."""
    series = TimeSeries()
    latency = Histogram()
    published = received = connected = lost = duplicated = 0
    cpu_s = 0.0
    onboarding_s = max(2, seconds // 10)
    for t in range(1, seconds + 1):
        if t <= onboarding_s:
            phase = "onboarding"
            connected = min(devices, connected + devices // onboarding_s + 1)
        elif t <= seconds - 2:
            phase = "publishing"
        else:
            phase = "draining"
        sent = connected if phase != "draining" else 0
        published += sent
        received += sent - (t % 7 == 0) + (t % 11 == 0)
        lost += t % 7 == 0
        duplicated += t % 11 == 0
        for k in range(1, 21):
            latency.record(1_500 + 40 * k + 300 * (t % 5))
        cpu_s += 0.35
        series.add(
            Totals(
                t_s=float(t),
                phase=phase,
                devices_target=devices,
                connected=connected,
                onboarded=connected,
                published=published,
                received=received,
                ingested=received - duplicated,
                missing=lost,
                duplicated=duplicated,
                malformed=1 if t > seconds // 2 else 0,
                rss_bytes=60 * 2**20 + connected * 4_000,
                cpu_s=cpu_s,
                latency_us=latency,
            )
        )
    return series.samples


def fake_report(seconds: int = 300, name: str = "quickstart", **settings: Any) -> dict[str, Any]:
    """A report as a run builds it, with ``seconds`` samples and the quickstart's settings."""
    connect_us = Histogram()
    latency_us = Histogram()
    for k in range(200):
        connect_us.record(3_000 + 50 * k)
        latency_us.record(1_500 + 30 * k)
    timeseries = fake_timeseries(seconds)
    published = timeseries[-1]["published_total"]
    figures = RunFigures(
        scenario=name,
        scenario_path=f"scenarios/{name}.toml",
        broker_url="mqtt://127.0.0.1:1883",
        mqtt_version="5",
        devices_target=1000,
        devices_connected=1000,
        devices_failed=0,
        failures={},
        dropped_links=0,
        onboarding_s=0.6,
        connect_us=connect_us,
        tcp_us=connect_us,
        published=published,
        acked=0,
        publish_window_s=float(seconds),
        overrun=0,
        baseline_rss_bytes=60 * 2**20,
        connected_rss_bytes=64 * 2**20,
        peak_rss_bytes=65 * 2**20,
        ingest=IngestSnapshot(
            received=published,
            unique=published - 3,
            duplicated=2,
            out_of_order=1,
            missing=3,
            malformed=0,
            latency_us=latency_us,
            committed_rows=published - 3,
            committed_unique=published - 3,
            sink_kind="sqlite",
            first_recv_ns=0,
            last_recv_ns=seconds * 10**9,
        ),
        drain_s=0.4,
        timeseries=timeseries,
        settings={
            "name": name,
            "seed": 1,
            "duration_s": float(seconds),
            "broker": {"url": None, "mqtt_version": "5", "keepalive_s": 60},
            "fleet": {
                "devices": 1000,
                "publish_interval_s": 1.0,
                "model": "machine-sensor",
                "payload": "msgpack",
                "qos": 0,
                "topic": "factory/{site}/{line}/{device}/telemetry",
            },
            "ingest": {"enabled": True, "batch_size": 1000, "sqlite_path": "runs/q.sqlite"},
            **settings,
        },
    )
    return as_dict(build_report(figures))


class GrowingRun:
    """A live run's report provider: each call shows ``step`` more seconds of a ``total``-second
    run, its samples and its published count both."""

    def __init__(self, step: int = 10, total: int = 200) -> None:
        self.step = step
        self.samples = fake_timeseries(total)
        self.report = fake_report(seconds=step)
        self.calls = 0

    def __call__(self) -> dict[str, Any]:
        self.calls += 1
        shown = self.samples[: self.step * self.calls]
        self.report["timeseries"] = shown
        self.report["messages"]["published"] = shown[-1]["published_total"]
        return self.report
