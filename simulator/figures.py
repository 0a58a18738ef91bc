"""What a run measured, gathered from the fleet, the ingest workers and the responder into the
report's input (:class:`~simulator.report.json_report.RunFigures`), at any moment of the run
(the live report) or at its end."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simulator.engine.fleet import Fleet
from simulator.ingest.pool import IngestPool
from simulator.metrics.funnel import FIRST_TELEMETRY, REGISTERED, Stage
from simulator.metrics.histogram import Histogram
from simulator.metrics.ingest import IngestSnapshot
from simulator.metrics.process import peak_rss_bytes
from simulator.monitor import Monitor
from simulator.provisioning import Responder
from simulator.report.groups import FleetGroup
from simulator.report.json_report import RunFigures
from simulator.report.schema import DeathsSection, SparkplugSection
from simulator.scenario import Scenario
from simulator.scenario.broker_url import BrokerAddress


def public_settings(scenario: Scenario) -> dict[str, Any]:
    """The resolved scenario for reports and dashboards, with every password masked."""
    settings = scenario.model_dump(mode="json")
    address = scenario.broker.address
    if address is not None:
        settings["broker"]["url"] = address.url()
    if settings["ingest"].get("password") is not None:
        settings["ingest"]["password"] = "***"
    return settings


@dataclass(slots=True)
class RunState:
    """What a run has started, kept so its figures can be read at any moment."""

    scenario: Scenario
    scenario_path: str
    monitor: Monitor
    fleet: Fleet
    ingest: IngestPool | None
    responder: Responder | None
    address: BrokerAddress
    """The first broker (the ingest worker's, with one)."""
    baseline_rss: int
    start: float
    """Loop time the onboarding began."""
    brokers: tuple[BrokerAddress, ...] = ()
    """Every broker the fleet is dealt over (empty: ``address`` alone)."""


def run_figures(
    state: RunState,
    final: IngestSnapshot | None,
    ingest_error: str | None,
    *,
    publish_window_s: float,
    drain_s: float,
    connected_rss: int,
) -> RunFigures:
    """Everything the run has measured, so far or in the end, as the report's input."""
    scenario = state.scenario
    fleet = state.fleet
    ingest = state.ingest
    stats = fleet.connector_stats
    onboarding_s = 0.0
    if stats.first_start is not None and stats.last_connected is not None:
        onboarding_s = stats.last_connected - stats.first_start
    tls = fleet.connector.tls
    return RunFigures(
        scenario=scenario.name,
        scenario_path=state.scenario_path,
        broker_url=state.address.url(),
        broker_urls=[broker.url() for broker in state.brokers],
        mqtt_version=scenario.broker.mqtt_version,
        devices_target=len(fleet.devices),
        devices_connected=fleet.onboarded,
        devices_failed=fleet.failed,
        failures=dict(stats.failures),
        connections_target=fleet.connection_count,
        connections_connected=stats.connected,
        connections_failed=stats.failed,
        max_in_flight=scenario.onboarding.max_in_flight,
        connect_retries=stats.retries,
        reconnects=fleet.counters.reconnects,
        dead_links=fleet.counters.dead_links,
        tls_handshakes=tls.handshakes if tls is not None else None,
        tls_resumed=tls.resumed if tls is not None else None,
        dropped_links=fleet.counters.dropped_links,
        drop_reasons=dict(fleet.counters.drop_reasons),
        onboarding_s=onboarding_s,
        connect_us=fleet.connect_us,
        tcp_us=fleet.tcp_us,
        published=fleet.counters.published,
        acked=fleet.counters.acked,
        refused=fleet.counters.refused,
        discarded=fleet.counters.discarded,
        too_large=fleet.counters.too_large,
        publish_window_s=publish_window_s,
        overrun=fleet.overrun,
        baseline_rss_bytes=state.baseline_rss,
        connected_rss_bytes=connected_rss,
        peak_rss_bytes=peak_rss_bytes(),
        ingest=final,
        ingest_error=ingest_error,
        ingest_workers=ingest.per_worker() if ingest is not None else [],
        ingest_restarts=len(ingest.restarts) if ingest is not None else 0,
        ingest_restart_reasons=list(ingest.restarts) if ingest is not None else [],
        drain_s=drain_s,
        timeseries=list(state.monitor.series.samples),
        funnel_us=_funnel_histograms(fleet, final),
        settings=public_settings(scenario),
        sparkplug=_sparkplug_figures(fleet, final),
        fleet_groups=fleet_groups(fleet),
        **_onboarding_figures(
            fleet, final, state.responder, restarted=bool(ingest and ingest.restarts)
        ),
    )


def fleet_groups(fleet: Fleet) -> list[FleetGroup]:
    """Each fleet group and what its devices published (one pass over the devices)."""
    published = [0] * len(fleet.groups)
    for device in fleet.devices:
        published[device.group] += device.seq
    return [
        FleetGroup(
            group.model.name,
            group.codec.name,
            group.interval_s,
            group.per_connection > 1,
            group.count,
            published[number],
        )
        for number, group in enumerate(fleet.groups)
    ]


def _funnel_histograms(fleet: Fleet, final: IngestSnapshot | None) -> dict[str, Histogram]:
    """Each funnel stage's time histogram: the fleet's stages, and ingest's first telemetry."""
    hists = {stage.name: stage.elapsed_us for stage in fleet.funnel.stages}
    if fleet.registrar is not None and final is not None and final.first_telemetry_us is not None:
        hists[FIRST_TELEMETRY] = final.first_telemetry_us
    return hists


def _sparkplug_figures(fleet: Fleet, final: IngestSnapshot | None) -> SparkplugSection | None:
    """What the edge nodes sent and what ingest saw of it, or None without Sparkplug devices."""
    edges = fleet.edges
    if edges is None:
        return None
    return {
        "group_id": edges.group_id,
        "births": edges.births,
        "rebirths": edges.rebirths,
        "deaths": edges.deaths,
        "ingested_by_type": final.sparkplug if final is not None else None,
    }


def _onboarding_figures(
    fleet: Fleet,
    final: IngestSnapshot | None,
    responder: Responder | None,
    *,
    restarted: bool = False,
) -> dict[str, Any]:
    """The funnel and what goes with it, as :class:`RunFigures` fields.

    After an ingest worker was ``restarted``, the first telemetry it timed after its last
    report died with it: those devices are not counted as failed (the sink says their
    messages got through: ``devices_seen``) but as pending, neither reached nor fallen out.
    """
    registrar = fleet.registrar
    if registrar is None:
        return {"workflow": "connect", "funnel": fleet.funnel.to_dict()}
    funnel = fleet.funnel.to_dict()
    first = final.first_telemetry_us if final is not None else None
    if final is not None and first is not None:
        stage = Stage(FIRST_TELEMETRY, reached=final.first_telemetry_reached or 0)
        stage.elapsed_us = first
        # Accepted devices that published but whose first message never reached ingest fell
        # out here; those whose first message was not due before the run ended are pending.
        published = sum(1 for device in fleet.devices if device.seq)
        through = max(stage.reached, final.devices_seen) if restarted else stage.reached
        stage.failed = max(0, published - through)
        stage.pending = max(0, fleet.funnel[REGISTERED].reached - stage.reached - stage.failed)
        funnel[stage.name] = stage.to_dict()
    first_start = fleet.connector_stats.first_start
    registered_s = None
    if registrar.last_accepted is not None and first_start is not None:
        registered_s = registrar.last_accepted - first_start
    return {
        "workflow": "register",
        "funnel": funnel,
        "registered_s": registered_s,
        "reannounced": registrar.reannounced.to_dict(),
        "responder": responder.counters.to_dict()
        if responder is not None
        else (final.responder if final is not None else None),
        "answers": {"late": registrar.late_answers, "invalid": registrar.invalid_answers},
        "deaths": _death_figures(fleet, final),
    }


def _death_figures(fleet: Fleet, final: IngestSnapshot | None) -> DeathsSection | None:
    """What the fleet's deaths were, and how many of them ingest heard (None: no ingest)."""
    if fleet.deaths is None:
        return None
    heard = final.deaths if final is not None else None
    deaths = fleet.deaths
    return {
        "topic": deaths.topic,
        "sent": deaths.sent,
        "wills": deaths.wills,
        "heard": heard["left"] if heard is not None else None,
        "heard_in_wills": heard["lost"] if heard is not None else None,
        "heard_invalid": heard["invalid"] if heard is not None else None,
    }
