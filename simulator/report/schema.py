"""The JSON report's schema, as types: what every key is, and so which keys are thresholds.

:func:`~simulator.report.json_report.build_report` returns a :class:`RunReport`, so mypy
checks every key it writes against these declarations, and :func:`numeric_paths` walks them
to find the numeric figures a threshold may name (``latency_ms.p99``,
``onboarding.funnel.registered.p99_ms``...). A figure that was not measured is ``None``
(``null`` in JSON), never a made-up zero. Entries typed as plain ``dict`` or ``list`` are free
form (their keys vary from run to run) and hold no threshold keys.
"""

from __future__ import annotations

import types
import typing
from typing import Any, NotRequired, TypedDict, Union, get_args, get_origin, get_type_hints

from simulator.metrics.faults import FaultFigures
from simulator.metrics.funnel import ReannouncedFigures, StageFigures
from simulator.metrics.ingest import WorkerRestart, WorkerShare
from simulator.metrics.stages import LoadStageFigures
from simulator.report.gateway import GatewaySection
from simulator.report.groups import GroupFigures
from simulator.report.onboarding_plan import PlanSection, PublishingPlan


class BrokerSection(TypedDict):
    url: str
    """The first broker (a merged report: every slice's, joined)."""
    urls: list[str]
    """Every broker the run used, in the order connections are dealt over them."""
    mqtt_version: str


class DevicesSection(TypedDict):
    target: int
    connected: int
    failed: int
    failures_by_reason: dict[str, int]
    dropped_after_connect: int
    drops_by_reason: dict[str, int]


class ConnectionsSection(TypedDict):
    target: int
    connected: int
    failed: int
    reconnects: int
    dead: int
    tls_handshakes: int | None
    tls_resumed: int | None
    ingest_reconnects: int | None


class ConnectTimes(TypedDict):
    p50: float | None
    p99: float | None
    max: float | None


class TcpConnectTimes(TypedDict):
    p50: float | None
    p99: float | None


class FunnelSection(TypedDict, total=False):
    """Stages by name; a ``connect`` run has the first two, a ``register`` run all five."""

    tcp_connect: StageFigures
    connack: StageFigures
    suback: StageFigures
    registered: StageFigures
    first_telemetry_ingested: StageFigures


class ResponderSection(TypedDict):
    registrations: int
    accepted: int
    rejected: int
    ignored: int
    malformed: int
    unsent: int
    reconnects: int


class AnswersSection(TypedDict):
    late: int
    invalid: int


class DeathsSection(TypedDict):
    topic: str
    sent: int
    wills: int
    heard: int | None
    heard_in_wills: int | None
    heard_invalid: int | None


class OnboardingSection(TypedDict):
    duration_s: float
    connect_rate_per_s: float | None
    connect_ms: ConnectTimes
    tcp_connect_ms: TcpConnectTimes
    workflow: str
    registered_s: float | None
    funnel: FunnelSection
    reannounced: ReannouncedFigures | None
    responder: ResponderSection | None
    answers: AnswersSection | None
    deaths: DeathsSection | None
    plan: PlanSection | None
    """The onboarding plan against what was achieved (None: a run without a plan, e.g. the
    live view's first moments)."""


class ControlEvent(TypedDict):
    """One live control request, at ``t_s`` on the time series' clock (see
    :mod:`simulator.control`)."""

    t_s: float
    action: str
    detail: str
    ok: bool


class MessagesSection(TypedDict):
    published: int
    acked: int
    refused: int
    discarded: int
    ingested: int | None
    """Distinct messages whose rows a sink committed."""
    received: int | None
    lost: int | None
    duplicated: int | None
    out_of_order: int | None
    malformed: int | None
    overrun: int
    too_large: int
    """Messages not sent because they exceeded the broker's Maximum Packet Size."""


class ThroughputSection(TypedDict):
    published_per_s: float | None
    ingested_per_s: float | None
    plan: NotRequired[PublishingPlan | None]
    """The steady publishing rate planned against what was achieved (None: not planned here,
    e.g. a staged run, whose stages say it)."""


class LatencySection(TypedDict):
    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None


class SinkSection(TypedDict):
    kind: str | None
    url: str | None
    run_id: str | None
    rows: int | None
    committed_rows: int | None
    failed_rows: int | None
    errors: dict[str, int] | None
    """Rows given up on, by reason."""
    error: str | None
    retries: int | None
    rows_before: int | None


class IngestSection(TypedDict):
    status: str
    """``ok``, ``off`` (not run) or ``failed`` (its figures are unknown: see ``error``)."""
    error: str | None
    restarts: int
    """Times a worker died and the run started it again (``ok`` still: it carried on)."""
    restart_reasons: list[WorkerRestart]
    """Each of those deaths: the worker, its exit status (negative: the signal) and why."""
    workers: list[WorkerShare]


class ProcessSection(TypedDict):
    peak_rss_bytes: int
    baseline_rss_bytes: int
    connected_rss_bytes: int
    rss_bytes_per_device: int | None


class SparkplugSection(TypedDict):
    group_id: str
    births: int
    rebirths: int
    deaths: int
    ingested_by_type: dict[str, int] | None


class SegmentSection(TypedDict):
    index: int
    count: int


class SliceEntry(TypedDict):
    """One report a merge took in, as the merged report lists it."""

    file: str
    role: str
    segment: SegmentSection | None
    started_at: str | None
    devices: int
    published: int
    ingested: int | None


class RunSection(TypedDict):
    """Which run a report is of, and which part of it (see docs: "Many processes")."""

    id: str
    """The run id: marks every stored row, and is shared by every slice of one run."""
    client_id_prefix: str
    """What every MQTT client id of the run starts with (a tag of the id, then ``-``)."""
    role: str
    """``fleet`` (a run, or a slice of one, with or without its own ingest), ``ingest``
    (the platform side alone: ``--ingest-only``) or ``merged`` (``factory-sim merge``)."""
    ingest: str
    """``own`` (this run started its ingest), ``off`` (left to a run elsewhere), ``only``."""
    segment: SegmentSection | None
    """This slice (``--segment I/N``); ``{"index": 0, "count": 1}`` for a whole run; None for
    an ingest-only or merged report."""
    start_at: str | None
    """The barrier (``--start-at``), ISO 8601 UTC; None without one."""
    started_at: str | None
    """When onboarding really began (after the barrier), ISO 8601 UTC to the microsecond;
    merged: the earliest slice's."""
    started_at_ns: int | None
    start_late_s: float | None
    """How long after the barrier this run really started (merged: the latest slice's)."""
    start_spread_s: float | None
    """Merged: how far apart the slices really started (latest minus earliest); else 0."""
    segments: list[SliceEntry]
    """Merged: every report taken in; empty otherwise."""
    missing_segments: list[str]
    """Merged: slices of the run that no report was given for (``I/N``); the totals then cover
    only the others and ``messages.lost`` is null."""


class HistogramsSection(TypedDict):
    """The run's histograms, serialised (``Histogram.to_dict``), so a merge is exact."""

    connect_us: dict[str, Any]
    tcp_us: dict[str, Any]
    latency_us: dict[str, Any] | None
    first_telemetry_us: dict[str, Any] | None
    funnel_us: dict[str, dict[str, Any]]
    """Each funnel stage's time from the connection attempt, by stage name."""


class RunReport(TypedDict):
    """One run's report: the JSON document ``--report`` writes."""

    scenario: str
    scenario_path: str
    broker: BrokerSection
    duration_s: float
    devices: DevicesSection
    connections: ConnectionsSection
    onboarding: OnboardingSection
    messages: MessagesSection
    throughput: ThroughputSection
    latency_ms: LatencySection
    sink: SinkSection
    ingest: IngestSection
    process: ProcessSection
    sparkplug: SparkplugSection | None
    drain_s: float
    notes: list[str]
    settings: dict[str, Any]
    timeseries: list[dict[str, Any]]
    faults: list[FaultFigures]
    """What each ``[[faults]]`` entry did, in the order they happened (empty: none)."""
    control: NotRequired[list[ControlEvent]]
    """Every live control request (``--web``): rate changes, pauses, faults triggered."""
    stages: NotRequired[list[LoadStageFigures]]
    """What each ``[[stages]]`` entry planned and achieved, in order (empty: none)."""
    groups: NotRequired[list[GroupFigures]]
    """Every fleet group's devices, messages and latency, in the fleet's order."""
    run: RunSection
    histograms: HistogramsSection
    thresholds: NotRequired[list[dict[str, Any]]]
    """Added once the thresholds have been checked."""
    live: NotRequired[bool]
    """True in the live dashboard's view of a run still going."""
    gateway: NotRequired[GatewaySection]
    """A gateway check's findings (``factory-sim southbound --broker``)."""


def numeric_paths() -> dict[str, bool]:
    """Every dotted path the schema declares, mapped to whether its value is a number."""
    return dict(_walk(RunReport, ""))


def _walk(schema: type, prefix: str) -> typing.Iterator[tuple[str, bool]]:
    for name, hint in get_type_hints(schema).items():
        path = f"{prefix}{name}"
        kind = _strip(hint)
        if typing.is_typeddict(kind):
            yield path, False
            yield from _walk(kind, f"{path}.")
        else:
            yield path, kind in (int, float)


def _strip(hint: Any) -> Any:
    """The type under ``X | None`` and ``NotRequired[X]``."""
    origin = get_origin(hint)
    if origin is NotRequired:
        return _strip(get_args(hint)[0])
    if origin in (Union, types.UnionType):
        kinds = [a for a in get_args(hint) if a is not type(None)]
        return _strip(kinds[0]) if len(kinds) == 1 else hint
    return hint
