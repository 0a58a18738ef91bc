"""The JSON report: a stable contract that later tools (thresholds, compare, dashboards) read.

The keys listed in :data:`CONTRACT_KEYS` are kept from the foundation on: new keys may be
added, none of these is renamed or removed. A figure that was not measured (ingest switched
off, no device connected) is ``null``, never a made-up zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from simulator.metrics.faults import FaultFigures
from simulator.metrics.funnel import ReannouncedFigures, StageFigures
from simulator.metrics.histogram import Histogram
from simulator.metrics.ingest import IngestSnapshot, WorkerRestart, WorkerShare
from simulator.metrics.stages import LoadStageFigures
from simulator.report.groups import FleetGroup, group_figures
from simulator.report.onboarding_plan import PlanSection, onboarding_plan, publishing_plan
from simulator.report.schema import (
    AnswersSection,
    ControlEvent,
    DeathsSection,
    FunnelSection,
    HistogramsSection,
    ResponderSection,
    RunReport,
    RunSection,
    SinkSection,
    SparkplugSection,
)

CONTRACT_KEYS: tuple[str, ...] = (
    "scenario",
    "duration_s",
    "devices.target",
    "devices.connected",
    "devices.failed",
    "onboarding.connect_rate_per_s",
    "onboarding.connect_ms.p50",
    "onboarding.connect_ms.p99",
    "messages.published",
    "messages.ingested",
    "messages.lost",
    "messages.duplicated",
    "messages.out_of_order",
    "messages.malformed",
    "throughput.published_per_s",
    "throughput.ingested_per_s",
    "latency_ms.p50",
    "latency_ms.p90",
    "latency_ms.p99",
    "latency_ms.max",
    "sink.kind",
    "sink.rows",
    "process.peak_rss_bytes",
    "process.baseline_rss_bytes",
    "process.rss_bytes_per_device",
)
"""Dotted paths every report has, from the foundation on."""


@dataclass(slots=True)
class RunFigures:
    """Everything one run measured, in raw units; :func:`build_report` turns it into the report."""

    scenario: str
    scenario_path: str
    broker_url: str
    mqtt_version: str
    devices_target: int
    devices_connected: int
    devices_failed: int
    failures: dict[str, int]
    dropped_links: int
    onboarding_s: float
    connect_us: Histogram
    tcp_us: Histogram
    published: int
    acked: int
    publish_window_s: float
    overrun: int
    baseline_rss_bytes: int
    connected_rss_bytes: int
    peak_rss_bytes: int
    ingest: IngestSnapshot | None
    """What ingest measured; None if it did not run, or if its figures are unknown (then
    ``ingest_error`` says why)."""
    drain_s: float
    refused: int = 0
    """Messages the broker refused with a reason code (QoS 1 and 2 only can say so)."""
    discarded: int = 0
    too_large: int = 0
    """Messages over the broker's Maximum Packet Size, counted and not sent."""
    """QoS 1/2 messages dropped unacknowledged on reconnect because the broker lost the session."""
    connections_target: int | None = None
    """Connections the fleet needed (equal to devices unless devices sit behind gateways)."""
    connections_connected: int | None = None
    connections_failed: int | None = None
    reconnects: int = 0
    """Dropped connections that came back during the run."""
    dead_links: int = 0
    """Connections dropped because the broker stopped answering keepalive pings."""
    tls_handshakes: int | None = None
    """TLS handshakes the fleet's own TLS layer completed (None: no TLS, or the event loop's)."""
    tls_resumed: int | None = None
    """Of those, the ones that resumed a session."""
    workflow: str = "connect"
    """The onboarding workflow: ``connect`` or ``register``."""
    funnel: dict[str, StageFigures] = field(default_factory=dict)
    """Onboarding stage by stage (see :mod:`simulator.metrics.funnel`)."""
    registered_s: float | None = None
    """From the first connect to the last device accepted (``register`` workflow)."""
    reannounced: ReannouncedFigures | None = None
    """Registrations sent again after reconnects (``register`` workflow)."""
    responder: ResponderSection | None = None
    """What the provisioning responder did, when this run started it."""
    answers: AnswersSection | None = None
    """Answers the devices could not use: late (after their timeout) or invalid."""
    deaths: DeathsSection | None = None
    """Device deaths on plain connections (``register``): the topic, those sent on leaving, the
    wills armed, and what ingest heard (devices that left, named in wills, invalid messages)."""
    sparkplug: SparkplugSection | None = None
    """Sparkplug B edge nodes: births, rebirths and deaths sent, message types ingest saw."""
    timeseries: list[dict[str, Any]] = field(default_factory=list)
    """One sample per interval (see :mod:`simulator.metrics.timeseries`)."""
    settings: dict[str, Any] = field(default_factory=dict)
    """The resolved scenario the run used."""
    ingest_error: str | None = None
    """Why ingest's figures are unknown (its worker died, or never reported), if they are."""
    ingest_restarts: int = 0
    """Times the run started an ingest worker again after it died."""
    ingest_restart_reasons: list[WorkerRestart] = field(default_factory=list)
    """Each of those deaths: the worker, its exit status and why, in order."""
    ingest_workers: list[WorkerShare] = field(default_factory=list)
    """Each ingest worker's share: client id, topic filters, messages and rows it took."""
    drop_reasons: dict[str, int] = field(default_factory=dict)
    """Connections dropped after onboarding, by why (``dropped_links`` in all)."""
    funnel_us: dict[str, Histogram] = field(default_factory=dict)
    """Each funnel stage's time histogram, by stage name (serialised in ``histograms``)."""
    run: RunSection | None = None
    """Which run this is and which part of it (None: a run outside ``run``, e.g. a test)."""
    faults: list[FaultFigures] = field(default_factory=list)
    """What each of the run's ``[[faults]]`` did (see :mod:`simulator.metrics.faults`)."""
    control: list[ControlEvent] = field(default_factory=list)
    broker_urls: list[str] = field(default_factory=list)
    """Every broker the run used (empty: ``broker_url`` alone)."""
    """Every live control request, in order (see :mod:`simulator.control`)."""
    onboarding_planned_s: float | None = None
    """When the plan had the last connect start, after the first (None: no plan known)."""
    max_in_flight: int = 0
    """``[onboarding] max_in_flight``: connects pending at once, at most."""
    connect_retries: int = 0
    """Connect tries that failed and were tried again."""
    planned_msg_per_s: float | None = None
    """What the connected fleet should publish per second once onboarded (None: not planned
    as one rate, e.g. under stages)."""
    stages: list[LoadStageFigures] = field(default_factory=list)
    """What each of the run's ``[[stages]]`` achieved (see :mod:`simulator.metrics.stages`)."""
    fleet_groups: list[FleetGroup] = field(default_factory=list)
    """What each fleet group published (see :mod:`simulator.report.groups`)."""


def _ms(hist: Histogram, p: float) -> float | None:
    if hist.count == 0:
        return None
    return round(hist.percentile(p) / 1000.0, 3)


def _rate(count: int, seconds: float) -> float | None:
    return round(count / seconds, 1) if seconds > 0 else None


def build_report(f: RunFigures) -> RunReport:
    """The report for one run, as a JSON-able dict.

    A message counts as ingested once a sink transaction has committed its row; one the
    sink gave up on, or that never reached it, is lost.
    """
    ingest = f.ingest
    lost: int | None = None
    ingested: int | None = None
    ingested_per_s: float | None = None
    if ingest is not None:
        ingested = ingest.committed_unique
        lost = max(0, f.published - ingested)
        if ingest.first_recv_ns is not None and ingest.last_recv_ns is not None:
            span_s = (ingest.last_recv_ns - ingest.first_recv_ns) / 1e9
            ingested_per_s = _rate(ingest.received, span_s)
    latency = ingest.latency_us if ingest is not None else Histogram()
    per_device = None
    if f.devices_connected:
        per_device = round((f.connected_rss_bytes - f.baseline_rss_bytes) / f.devices_connected)
    report: RunReport = {
        "scenario": f.scenario,
        "scenario_path": f.scenario_path,
        "broker": {
            "url": f.broker_url,
            "urls": f.broker_urls or [f.broker_url],
            "mqtt_version": f.mqtt_version,
        },
        "duration_s": round(f.publish_window_s, 3),
        "devices": {
            "target": f.devices_target,
            "connected": f.devices_connected,
            "failed": f.devices_failed,
            "failures_by_reason": dict(sorted(f.failures.items())),
            "dropped_after_connect": f.dropped_links,
            "drops_by_reason": dict(sorted(f.drop_reasons.items())),
        },
        "connections": {
            "target": f.connections_target
            if f.connections_target is not None
            else f.devices_target,
            "connected": f.connections_connected
            if f.connections_connected is not None
            else f.devices_connected,
            "failed": f.connections_failed
            if f.connections_failed is not None
            else f.devices_failed,
            "reconnects": f.reconnects,
            "dead": f.dead_links,
            "tls_handshakes": f.tls_handshakes,
            "tls_resumed": f.tls_resumed,
            "ingest_reconnects": ingest.reconnects if ingest is not None else None,
        },
        "onboarding": {
            "duration_s": round(f.onboarding_s, 3),
            "connect_rate_per_s": _rate(f.devices_connected, f.onboarding_s),
            "connect_ms": {
                "p50": _ms(f.connect_us, 50),
                "p99": _ms(f.connect_us, 99),
                "max": _ms(f.connect_us, 100),
            },
            "tcp_connect_ms": {"p50": _ms(f.tcp_us, 50), "p99": _ms(f.tcp_us, 99)},
            "workflow": f.workflow,
            "registered_s": round(f.registered_s, 3) if f.registered_s is not None else None,
            # The stage names are FunnelSection's keys: metrics.funnel names them.
            "funnel": cast(FunnelSection, f.funnel),
            "reannounced": f.reannounced,
            "responder": f.responder,
            "answers": f.answers,
            "deaths": f.deaths,
            "plan": _plan(f),
        },
        "messages": {
            "published": f.published,
            "acked": f.acked,
            "refused": f.refused,
            "discarded": f.discarded,
            "ingested": ingested,
            "received": ingest.received if ingest is not None else None,
            "lost": lost,
            "duplicated": ingest.duplicated if ingest is not None else None,
            "out_of_order": ingest.out_of_order if ingest is not None else None,
            "malformed": ingest.malformed if ingest is not None else None,
            "overrun": f.overrun,
            "too_large": f.too_large,
        },
        "throughput": {
            "published_per_s": _rate(f.published, f.publish_window_s),
            "ingested_per_s": ingested_per_s,
        },
        "latency_ms": {
            "p50": _ms(latency, 50),
            "p90": _ms(latency, 90),
            "p99": _ms(latency, 99),
            "max": _ms(latency, 100),
        },
        "sink": _sink(ingest),
        "ingest": {
            "status": "failed" if f.ingest_error else "ok" if ingest is not None else "off",
            "error": f.ingest_error,
            "restarts": f.ingest_restarts,
            "restart_reasons": list(f.ingest_restart_reasons),
            "workers": f.ingest_workers,
        },
        "process": {
            "peak_rss_bytes": f.peak_rss_bytes,
            "baseline_rss_bytes": f.baseline_rss_bytes,
            "connected_rss_bytes": f.connected_rss_bytes,
            "rss_bytes_per_device": per_device,
        },
        "sparkplug": f.sparkplug,
        "drain_s": round(f.drain_s, 3),
        "notes": [*(ingest.notes if ingest is not None else ()), *_restart_notes(f)],
        "settings": f.settings,
        "timeseries": f.timeseries,
        "faults": f.faults,
        "control": f.control,
        "stages": f.stages,
        "groups": group_figures(f.fleet_groups, ingest),
        "run": f.run if f.run is not None else run_section(_sink(ingest)["run_id"] or "", ""),
        "histograms": _histograms(f, latency),
    }
    if f.planned_msg_per_s is not None:
        report["throughput"]["plan"] = publishing_plan(
            f.planned_msg_per_s, f.timeseries, overrun=f.overrun
        )
    return report


def _plan(f: RunFigures) -> PlanSection | None:
    if f.onboarding_planned_s is None:
        return None
    return onboarding_plan(
        connections=f.connections_target if f.connections_target is not None else f.devices_target,
        connected=f.connections_connected
        if f.connections_connected is not None
        else f.devices_connected,
        planned_s=f.onboarding_planned_s,
        achieved_s=f.onboarding_s,
        max_in_flight=f.max_in_flight,
        connect_p50_ms=_ms(f.connect_us, 50),
        connect_p99_ms=_ms(f.connect_us, 99),
        retries=f.connect_retries,
    )


def _histograms(f: RunFigures, latency: Histogram) -> HistogramsSection:
    first = f.ingest.first_telemetry_us if f.ingest is not None else None
    return {
        "connect_us": f.connect_us.to_dict(),
        "tcp_us": f.tcp_us.to_dict(),
        "latency_us": latency.to_dict() if f.ingest is not None else None,
        "first_telemetry_us": first.to_dict() if first is not None else None,
        "funnel_us": {name: hist.to_dict() for name, hist in f.funnel_us.items()},
    }


def format_utc(ns: int) -> str:
    """A wall-clock time in ns since the epoch as ISO 8601 UTC, to the microsecond."""
    stamp = datetime.fromtimestamp(ns // 1000 / 1e6, UTC)
    return stamp.isoformat(timespec="microseconds").replace("+00:00", "Z")


def run_section(
    run_id: str,
    client_id_prefix: str,
    *,
    role: str = "fleet",
    ingest: str = "own",
    segment: tuple[int, int] | None = (0, 1),
    start_at_ns: int | None = None,
    started_at_ns: int | None = None,
) -> RunSection:
    """The report's ``run`` section for one process's run (see :class:`RunSection`)."""
    late = None
    if start_at_ns is not None and started_at_ns is not None:
        late = round((started_at_ns - start_at_ns) / 1e9, 6)
    return {
        "id": run_id,
        "client_id_prefix": client_id_prefix,
        "role": role,
        "ingest": ingest,
        "segment": {"index": segment[0], "count": segment[1]}
        if segment is not None and role != "ingest"
        else None,
        "start_at": format_utc(start_at_ns) if start_at_ns is not None else None,
        "started_at": format_utc(started_at_ns) if started_at_ns is not None else None,
        "started_at_ns": started_at_ns,
        "start_late_s": late,
        "start_spread_s": 0.0 if started_at_ns is not None else None,
        "segments": [],
        "missing_segments": [],
    }


def _restart_notes(f: RunFigures) -> list[str]:
    """One note per ingest worker restart: a restart that lost nothing is worth saying, not
    failing over (what it did lose is in ``messages.lost``)."""
    return [
        f"ingest worker {death['client_id']} {death['reason']}; the run started it again, "
        f"and it carried on from the rows its run had stored"
        for death in f.ingest_restart_reasons
    ]


def as_dict(report: RunReport) -> dict[str, Any]:
    """The report as the plain JSON data it is, for code that reads it by key paths, as code
    reading a report file does (the schema's types are for the code that writes it)."""
    return cast(dict[str, Any], report)


def _sink(ingest: IngestSnapshot | None) -> SinkSection:
    if ingest is None:
        return {
            "kind": None,
            "url": None,
            "run_id": None,
            "rows": None,
            "committed_rows": None,
            "failed_rows": None,
            "errors": None,
            "error": None,
            "retries": None,
            "rows_before": None,
        }
    return {
        "kind": ingest.sink_kind,
        "url": ingest.sink,
        "run_id": ingest.run_id,
        "rows": ingest.committed_rows,
        "committed_rows": ingest.committed_rows,
        "failed_rows": ingest.failed_rows,
        "errors": dict(sorted(ingest.sink_errors.items())),
        "error": ingest.sink_error,
        "retries": ingest.sink_retries,
        "rows_before": ingest.rows_before,
    }


def problems(report: Mapping[str, Any]) -> list[str]:
    """Why a run should exit non-zero: slices missing from a merged run (a worker that died),
    failed devices, lost or malformed messages, dropped links."""
    found: list[str] = []
    missing = (report.get("run") or {}).get("missing_segments") or []
    if missing:
        found.append(f"slices {', '.join(missing)} are missing: the totals cover the others only")
    devices = report["devices"]
    if devices["failed"]:
        reasons = ", ".join(f"{n} {why}" for why, n in devices["failures_by_reason"].items())
        found.append(
            f"{devices['failed']:,} of {devices['target']:,} devices failed to onboard ({reasons})"
        )
    faults = report.get("faults") or []
    found.extend(_fault_problems(faults))
    if devices["dropped_after_connect"] and not faults:
        # With [[faults]], drops are what was asked for: what fails is a fleet not back.
        back = report.get("connections", {}).get("reconnects", 0)
        why = ", ".join(f"{n:,} {r}" for r, n in devices.get("drops_by_reason", {}).items())
        found.append(
            f"{devices['dropped_after_connect']:,} connections dropped after onboarding "
            f"({back:,} reconnects){': ' + why if why else ''}"
        )
    for stage in report["onboarding"].get("funnel", {}).values():
        if stage["stage"] in ("tcp_connect", "connack"):
            continue  # said above, as failed devices
        out = {k: stage[k] for k in ("rejected", "timeouts", "failed") if stage[k]}
        if out:
            said = ", ".join(f"{n:,} {why}" for why, n in out.items())
            found.append(f"onboarding stage {stage['stage']}: {said}")
    ingest = report.get("ingest") or {}
    if ingest.get("status") == "failed":
        found.append(f"ingest figures are unknown: {ingest.get('error')}")
    sink = report.get("sink") or {}
    if sink.get("failed_rows"):
        reasons = ", ".join(f"{n:,} {why}" for why, n in sink["errors"].items())
        found.append(
            f"{sink['failed_rows']:,} rows could not be stored in {sink['url']} ({reasons}): "
            f"{sink['error']}"
        )
    messages = report["messages"]
    if messages["lost"]:
        found.append(f"{messages['lost']:,} of {messages['published']:,} messages were lost")
    if messages.get("too_large"):
        found.append(
            f"{messages['too_large']:,} messages were not sent: larger than the broker's "
            f"Maximum Packet Size"
        )
    if messages.get("refused"):
        found.append(f"{messages['refused']:,} messages were refused by the broker")
    if messages["malformed"]:
        found.append(f"{messages['malformed']:,} messages could not be decoded")
    return found


def _fault_problems(faults: list[Mapping[str, Any]]) -> list[str]:
    """Faults that could not be carried out, and those after which the fleet was not whole."""
    found = []
    for fault in faults:
        what = f"fault {fault['kind']} at {fault['at_s']:g} s"
        if fault["error"] is not None:
            found.append(f"{what} could not be carried out: {fault['error']}")
        elif fault["started_s"] is not None and fault["back_s"] is None:
            found.append(
                f"{what}: {fault['devices_lost']:,} of {fault['devices_before']:,} devices were "
                f"lost and not all back by the end"
            )
    return found


def get_path(report: Mapping[str, Any], dotted: str) -> Any:
    """The value at a dotted key path, e.g. ``latency_ms.p99``; KeyError if absent."""
    value: Any = report
    for part in dotted.split("."):
        value = value[part]
    return value
