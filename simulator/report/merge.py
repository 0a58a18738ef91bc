"""One report from the reports of a run's slices (and of its ingest run): ``factory-sim merge``.

A run split with ``--segment I/N`` writes one report per slice, and, when its slices ran
fleet-only, one more from its ``--ingest-only`` run. The merge is one report of the same
contract, as if one process had run it all:

- counts are summed (devices, connections, messages, funnel stages, rows, deaths...);
- histograms are merged exactly from the reports' ``histograms`` (HdrHistogram-style buckets
  add), and every percentile (``latency_ms``, ``onboarding.connect_ms``, funnel stages) is
  read from the merged one;
- ``messages.lost`` is the run's published messages minus its ingested ones, across all
  reports, or null when a slice is missing or no report carries ingest's figures;
- time series are laid on one wall clock (:mod:`.timeline`), from the first slice's start;
- ``stages`` (each slice marks its share of the plan) are added up stage by stage and judged
  again against the merged time series, as one process would have judged them; a stage's
  latency is the worst slice's (that of the one ingest, when one ingest measured it);
- ``faults``: each fault's records from every report that carried out its share are one
  record (devices summed, from the first start to the last slice back), judged again against
  the merged time series;
- ``run`` lists the reports taken in (``run.segments``), the slices missing, and how far
  apart the slices really started (``run.start_spread_s``); durations run from the earliest
  start to the latest end.

Inputs that cannot be one run (another scenario or run id, a slice given twice, slices of
different splits, a report without ``run`` and ``histograms``) raise
:class:`~simulator.errors.ReportInputError` naming the file. A missing slice is not an error:
the merged report says which (``run.missing_segments``) and
:func:`~simulator.report.json_report.problems` makes it a
failure, so a partial merge can still be looked at.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from simulator.errors import ReportInputError
from simulator.metrics.faults import (
    FaultFigures,
    FaultRecord,
    fault_figures,
    merged_record,
    record_of,
)
from simulator.metrics.histogram import Histogram, percentile_ms
from simulator.metrics.stages import LoadStageFigures, stage_figures, summed_marks
from simulator.report.json_report import format_utc
from simulator.report.onboarding_plan import onboarding_plan
from simulator.report.timeline import Track, merge_timeseries


@dataclass(frozen=True, slots=True)
class Input:
    """One report to merge and the name it is known by in errors (its file)."""

    name: str
    report: Mapping[str, Any]

    @property
    def run(self) -> Mapping[str, Any]:
        """The report's ``run`` section."""
        run: Mapping[str, Any] = self.report["run"]
        return run

    @property
    def is_fleet(self) -> bool:
        """Whether the report is of a fleet (a whole run or a slice), not an ingest-only run."""
        return self.run.get("role") != "ingest"

    @property
    def has_ingest(self) -> bool:
        """Whether the report carries ingest's figures (its own ingest, or ingest only)."""
        status = self.report.get("ingest", {}).get("status", "off")
        return bool(status != "off")

    def segment(self) -> tuple[int, int]:
        """(index, count) of the slice; a whole run is (0, 1)."""
        segment = self.run.get("segment") or {"index": 0, "count": 1}
        return int(segment["index"]), int(segment["count"])


def merge_reports(inputs: Sequence[Input]) -> dict[str, Any]:
    """The run's one report from its slices' and ingest runs' reports (see the module)."""
    _check(inputs)
    fleets = [i for i in inputs if i.is_fleet]
    ingests = [i for i in inputs if i.has_ingest]
    count = fleets[0].segment()[1]
    present = {i.segment()[0] for i in fleets}
    missing = [f"{k}/{count}" for k in range(count) if k not in present]
    hists = _merged_histograms(inputs)
    first = fleets[0].report
    published = _sum(i.report["messages"]["published"] for i in inputs)
    ingested = _sum_known(i.report["messages"]["ingested"] for i in ingests)
    failed = any(i.report["ingest"]["status"] == "failed" for i in ingests)
    lost = None
    if ingested is not None and not missing and not failed:
        lost = max(0, published - ingested)
    # The run starts when its first slice does (an ingest run listens from before).
    starts = [i.run["started_at_ns"] for i in fleets if i.run.get("started_at_ns") is not None]
    origin = min(starts) if starts else None
    duration_s = _span(fleets, "duration_s", origin)
    onboarding_s = _span(fleets, "onboarding.duration_s", origin)
    connected = _sum(i.report["devices"]["connected"] for i in fleets)
    latency = hists["latency_us"]
    notes = _notes(inputs, missing)
    timeseries = merge_timeseries(
        [
            Track(i.run["started_at_ns"], i.report.get("timeseries", []))
            for i in inputs
            if i.run.get("started_at_ns") is not None
        ],
        origin,
    )
    report: dict[str, Any] = {
        "scenario": first["scenario"],
        "scenario_path": first["scenario_path"],
        "broker": {
            "url": _joined(i.report["broker"]["url"] for i in inputs),
            "urls": list(
                dict.fromkeys(
                    url
                    for i in inputs
                    for url in i.report["broker"].get("urls", [i.report["broker"]["url"]])
                )
            ),
            "mqtt_version": first["broker"]["mqtt_version"],
        },
        "duration_s": duration_s,
        "devices": _devices(fleets),
        "connections": _connections(inputs, fleets, ingests),
        "onboarding": _onboarding(
            inputs, hists, connected=connected, onboarding_s=onboarding_s, origin=origin
        ),
        "messages": {
            "published": published,
            "acked": _sum(i.report["messages"]["acked"] for i in inputs),
            "refused": _sum(i.report["messages"]["refused"] for i in inputs),
            "discarded": _sum(i.report["messages"]["discarded"] for i in inputs),
            "ingested": ingested,
            "received": _sum_known(i.report["messages"]["received"] for i in ingests),
            "lost": lost,
            "duplicated": _sum_known(i.report["messages"]["duplicated"] for i in ingests),
            "out_of_order": _sum_known(i.report["messages"]["out_of_order"] for i in ingests),
            "malformed": _sum_known(i.report["messages"]["malformed"] for i in ingests),
            "overrun": _sum(i.report["messages"]["overrun"] for i in inputs),
            "too_large": _sum(i.report["messages"].get("too_large", 0) for i in inputs),
        },
        "throughput": {
            "published_per_s": round(published / duration_s, 1) if duration_s else None,
            "ingested_per_s": _sum_known(i.report["throughput"]["ingested_per_s"] for i in ingests),
        },
        "latency_ms": {
            "p50": percentile_ms(latency, 50) if latency is not None else None,
            "p90": percentile_ms(latency, 90) if latency is not None else None,
            "p99": percentile_ms(latency, 99) if latency is not None else None,
            "max": percentile_ms(latency, 100) if latency is not None else None,
        },
        "sink": _sink(ingests),
        "ingest": _ingest(ingests),
        "process": _process(inputs, connected),
        "sparkplug": _sparkplug(inputs),
        "drain_s": max(float(i.report.get("drain_s", 0.0)) for i in inputs),
        "notes": notes,
        "settings": first["settings"],
        "timeseries": timeseries,
        "stages": _stages(fleets, ingests, timeseries),
        "faults": _faults(inputs, ingests, timeseries, origin),
        "run": _run(inputs, missing, origin, starts),
        "histograms": {
            "connect_us": _dump(hists["connect_us"]),
            "tcp_us": _dump(hists["tcp_us"]),
            "latency_us": _dump(latency),
            "first_telemetry_us": _dump(hists["first_telemetry_us"]),
            "funnel_us": {name: h.to_dict() for name, h in hists["funnel_us"].items()},
        },
    }
    return report


# checking the inputs ---------------------------------------------------------------------


def _check(inputs: Sequence[Input]) -> None:
    if not inputs:
        raise ReportInputError("no report to merge")
    for item in inputs:
        for key in ("run", "histograms"):
            if not isinstance(item.report.get(key), dict):
                raise ReportInputError(
                    f"{item.name}: has no {key!r}: written by a factory-sim that could not "
                    f"merge yet; run it again to merge it"
                )
        if item.run.get("role") == "merged":
            raise ReportInputError(f"{item.name}: is already a merged report; give the slices'")
    fleets = [i for i in inputs if i.is_fleet]
    if not fleets:
        raise ReportInputError(
            f"{inputs[0].name}: only ingest-only reports: give the slices' reports too"
        )
    base = fleets[0]
    for item in inputs:
        if item.report["scenario"] != base.report["scenario"]:
            raise ReportInputError(
                f"{item.name}: is of scenario {item.report['scenario']!r}, but {base.name} is "
                f"of {base.report['scenario']!r}: the reports of one run share its scenario"
            )
        if item.run.get("id") != base.run.get("id"):
            raise ReportInputError(
                f"{item.name}: is of run {item.run.get('id')!r}, but {base.name} is of run "
                f"{base.run.get('id')!r}: give every slice the same --run-id (or --start-at)"
            )
    seen: dict[int, str] = {}
    count = base.segment()[1]
    for item in fleets:
        index, of = item.segment()
        if of != count:
            raise ReportInputError(
                f"{item.name}: is slice {index}/{of}, but {base.name} is a slice of {count}: "
                f"one run is split one way"
            )
        if index in seen:
            raise ReportInputError(
                f"{item.name}: slice {index}/{of} again (it is also {seen[index]})"
            )
        seen[index] = item.name


# sections --------------------------------------------------------------------------------


def _devices(fleets: Sequence[Input]) -> dict[str, Any]:
    devices = [i.report["devices"] for i in fleets]
    return {
        "target": _sum(d["target"] for d in devices),
        "connected": _sum(d["connected"] for d in devices),
        "failed": _sum(d["failed"] for d in devices),
        "failures_by_reason": _counts(d.get("failures_by_reason") for d in devices),
        "dropped_after_connect": _sum(d["dropped_after_connect"] for d in devices),
        "drops_by_reason": _counts(d.get("drops_by_reason") for d in devices),
    }


def _connections(
    inputs: Sequence[Input], fleets: Sequence[Input], ingests: Sequence[Input]
) -> dict[str, Any]:
    sections = [i.report["connections"] for i in fleets]
    merged: dict[str, Any] = {
        key: _sum(s[key] for s in sections)
        for key in ("target", "connected", "failed", "reconnects", "dead")
    }
    for key in ("tls_handshakes", "tls_resumed"):
        merged[key] = _sum_known(s.get(key) for s in sections)
    merged["ingest_reconnects"] = _sum_known(
        i.report["connections"].get("ingest_reconnects") for i in ingests
    )
    for section in (i.report["connections"] for i in inputs):
        for key, value in section.items():
            merged.setdefault(key, value)
    return merged


def _onboarding(
    inputs: Sequence[Input],
    hists: Mapping[str, Any],
    *,
    connected: int,
    onboarding_s: float,
    origin: int | None,
) -> dict[str, Any]:
    fleets = [i for i in inputs if i.is_fleet]
    ingests = [i for i in inputs if i.has_ingest]
    sections = [i.report["onboarding"] for i in fleets]
    first = sections[0]
    connect, tcp = hists["connect_us"], hists["tcp_us"]
    registered = [
        (i, i.report["onboarding"]["registered_s"])
        for i in fleets
        if i.report["onboarding"].get("registered_s") is not None
    ]
    return {
        "duration_s": onboarding_s,
        "connect_rate_per_s": round(connected / onboarding_s, 1) if onboarding_s > 0 else None,
        "connect_ms": {
            "p50": percentile_ms(connect, 50),
            "p99": percentile_ms(connect, 99),
            "max": percentile_ms(connect, 100),
        },
        "tcp_connect_ms": {"p50": percentile_ms(tcp, 50), "p99": percentile_ms(tcp, 99)},
        "workflow": first.get("workflow", "connect"),
        "registered_s": round(
            max(_offset_s(i, origin) + float(value) for i, value in registered), 3
        )
        if registered
        else None,
        "funnel": _funnel(inputs, hists),
        "reannounced": _summed_figures(s.get("reannounced") for s in sections),
        "responder": _summed_figures(i.report["onboarding"].get("responder") for i in inputs),
        "answers": _summed_figures(s.get("answers") for s in sections),
        "deaths": _deaths(fleets, ingests),
        "plan": _plan(fleets, connect, onboarding_s),
    }


def _plan(fleets: Sequence[Input], connect: Histogram, onboarding_s: float) -> Any:
    """The slices' onboarding plans as one: their connections together, on the whole run's
    clock, each slice's in-flight window added to the others' (None if a slice had none)."""
    plans = [i.report["onboarding"].get("plan") for i in fleets]
    if not plans or any(plan is None for plan in plans):
        return None
    return onboarding_plan(
        connections=sum(plan["connections"] for plan in plans),
        connected=sum(i.report["connections"]["connected"] for i in fleets),
        planned_s=max(plan["planned_s"] for plan in plans),
        achieved_s=onboarding_s,
        max_in_flight=sum(plan["max_in_flight"] for plan in plans),
        connect_p50_ms=percentile_ms(connect, 50),
        connect_p99_ms=percentile_ms(connect, 99),
        retries=sum(plan["retries"] for plan in plans),
    )


def _funnel(inputs: Iterable[Input], hists: Mapping[str, Any]) -> dict[str, Any]:
    """Stages summed over the reports that have them, in the first report's order, with
    their percentiles read from the merged stage histograms."""
    stages: dict[str, dict[str, Any]] = {}
    for item in inputs:
        for name, stage in item.report["onboarding"].get("funnel", {}).items():
            into = stages.setdefault(name, {"stage": name})
            for key in ("reached", "rejected", "timeouts", "failed", "retries", "pending"):
                into[key] = into.get(key, 0) + int(stage.get(key, 0))
    by_stage: Mapping[str, Histogram] = hists["funnel_us"]
    for name, stage in stages.items():
        hist = by_stage.get(name)
        stage["p50_ms"] = percentile_ms(hist, 50) if hist is not None else None
        stage["p99_ms"] = percentile_ms(hist, 99) if hist is not None else None
        stage["max_ms"] = percentile_ms(hist, 100) if hist is not None else None
    return stages


def _stages(
    fleets: Sequence[Input], ingests: Sequence[Input], timeseries: Sequence[Mapping[str, Any]]
) -> list[LoadStageFigures]:
    """The slices' stages added up and judged on the merged time series (see the module).
    What ingest stored in each stage is known only if every report that ingested brought its
    time series (an ``--ingest-only`` run's has none): null otherwise."""
    slices = [i.report["stages"] for i in fleets if i.report.get("stages")]
    if not slices:
        return []
    figures = stage_figures(summed_marks(slices), timeseries, {}, None)
    heard = bool(ingests) and all(i.report.get("timeseries") for i in ingests)
    for stage in figures:
        if not heard:
            stage["ingested"] = stage["ingested_per_s"] = stage["lost"] = None
        same = [s for stages in slices for s in stages if s["number"] == stage["number"]]
        p50 = [s["latency_ms_p50"] for s in same if s.get("latency_ms_p50") is not None]
        p99 = [s["latency_ms_p99"] for s in same if s.get("latency_ms_p99") is not None]
        stage["latency_ms_p50"] = max(p50) if p50 else None
        stage["latency_ms_p99"] = max(p99) if p99 else None
    return figures


def _faults(
    inputs: Sequence[Input],
    ingests: Sequence[Input],
    timeseries: Sequence[Mapping[str, Any]],
    origin: int | None,
) -> list[FaultFigures]:
    """Each fault once, from every report that carried out its share (each slice's cut of
    its own connections, the coordinator's restart of the broker), told apart by kind, plan
    and order, on the merged clock and judged again on the merged time series. What ingest
    saw in a fault's window is known only as in :func:`_stages`."""
    shares: dict[tuple[Any, ...], list[tuple[str, FaultRecord]]] = {}
    qos = 0
    for item in inputs:
        offset_s = _offset_s(item, origin)
        seen: Counter[tuple[Any, ...]] = Counter()
        for figures in item.report.get("faults") or ():
            plan = (figures["kind"], figures["at_s"], figures["duration_s"])
            shares.setdefault((*plan, seen[plan]), []).append(
                (item.name, record_of(figures).moved(offset_s))
            )
            seen[plan] += 1
            qos = int(figures["qos"])
    if not shares:
        return []
    heard = bool(ingests) and all(i.report.get("timeseries") for i in ingests)
    records = [merged_record(parts) for parts in shares.values()]
    return fault_figures(records, timeseries, qos=qos, ingest=heard)


def _deaths(fleets: Sequence[Input], ingests: Sequence[Input]) -> dict[str, Any] | None:
    sent = [i.report["onboarding"].get("deaths") for i in fleets]
    heard = [i.report["onboarding"].get("deaths") for i in ingests]
    known = [d for d in sent if d is not None]
    if not known:
        return None
    return {
        "topic": known[0]["topic"],
        "sent": _sum(d["sent"] for d in known),
        "wills": _sum(d["wills"] for d in known),
        "heard": _sum_known(d.get("heard") for d in heard if d is not None),
        "heard_in_wills": _sum_known(d.get("heard_in_wills") for d in heard if d is not None),
        "heard_invalid": _sum_known(d.get("heard_invalid") for d in heard if d is not None),
    }


def _sink(ingests: Sequence[Input]) -> dict[str, Any]:
    sinks = [i.report["sink"] for i in ingests if i.report["sink"].get("kind") is not None]
    if not sinks:
        return {key: None for key in _SINK_KEYS}
    errors = _counts(s.get("errors") for s in sinks)
    return {
        "kind": _joined(s["kind"] for s in sinks),
        "url": _joined(s["url"] for s in sinks),
        "run_id": sinks[0]["run_id"],
        "rows": _sum(s["rows"] or 0 for s in sinks),
        "committed_rows": _sum(s["committed_rows"] or 0 for s in sinks),
        "failed_rows": _sum(s["failed_rows"] or 0 for s in sinks),
        "errors": errors,
        "error": next((s["error"] for s in sinks if s.get("error")), None),
        "retries": _sum(s.get("retries") or 0 for s in sinks),
        "rows_before": min(s.get("rows_before") or 0 for s in sinks),
    }


_SINK_KEYS = (
    "kind",
    "url",
    "run_id",
    "rows",
    "committed_rows",
    "failed_rows",
    "errors",
    "error",
    "retries",
    "rows_before",
)


def _ingest(ingests: Sequence[Input]) -> dict[str, Any]:
    sections = [i.report["ingest"] for i in ingests]
    failed = [s for s in sections if s["status"] == "failed"]
    return {
        "status": "failed" if failed else "ok" if sections else "off",
        "error": "; ".join(str(s["error"]) for s in failed) or None,
        "restarts": _sum(s.get("restarts", 0) for s in sections),
        "restart_reasons": [r for s in sections for r in s.get("restart_reasons", [])],
        "workers": [w for s in sections for w in s.get("workers", [])],
    }


def _process(inputs: Sequence[Input], connected: int) -> dict[str, Any]:
    """Memory of every process summed: what the whole run took on its machines."""
    sections = [i.report["process"] for i in inputs]
    baseline = _sum(s["baseline_rss_bytes"] for s in sections)
    at_connect = _sum(s["connected_rss_bytes"] for s in sections)
    fleet_growth = sum(
        i.report["process"]["connected_rss_bytes"] - i.report["process"]["baseline_rss_bytes"]
        for i in inputs
        if i.is_fleet
    )
    return {
        "peak_rss_bytes": _sum(s["peak_rss_bytes"] for s in sections),
        "baseline_rss_bytes": baseline,
        "connected_rss_bytes": at_connect,
        "rss_bytes_per_device": round(fleet_growth / connected) if connected else None,
    }


def _sparkplug(inputs: Sequence[Input]) -> dict[str, Any] | None:
    sections: list[Mapping[str, Any]] = [
        i.report["sparkplug"] for i in inputs if i.report.get("sparkplug")
    ]
    if not sections:
        return None
    typed = [s["ingested_by_type"] for s in sections if s.get("ingested_by_type") is not None]
    return {
        "group_id": sections[0]["group_id"],
        "births": _sum(s["births"] for s in sections),
        "rebirths": _sum(s["rebirths"] for s in sections),
        "deaths": _sum(s["deaths"] for s in sections),
        "ingested_by_type": _counts(typed) if typed else None,
    }


def _run(
    inputs: Sequence[Input], missing: list[str], origin: int | None, starts: list[int]
) -> dict[str, Any]:
    fleets = [i for i in inputs if i.is_fleet]
    base = fleets[0].run
    late = [i.run["start_late_s"] for i in fleets if i.run.get("start_late_s") is not None]
    fleet_starts = [i.run["started_at_ns"] for i in fleets if i.run.get("started_at_ns")]
    spread = (max(fleet_starts) - min(fleet_starts)) / 1e9 if fleet_starts else None
    return {
        "id": base["id"],
        "client_id_prefix": base.get("client_id_prefix", ""),
        "role": "merged",
        "ingest": "only" if any(not i.is_fleet for i in inputs) else base.get("ingest", "own"),
        "segment": None,
        "start_at": base.get("start_at"),
        "started_at": format_utc(origin) if origin is not None else None,
        "started_at_ns": origin,
        "start_late_s": max(late) if late else None,
        "start_spread_s": round(spread, 6) if spread is not None else None,
        "segments": [_entry(i) for i in inputs],
        "missing_segments": missing,
    }


def _entry(item: Input) -> dict[str, Any]:
    index, count = item.segment()
    return {
        "file": item.name,
        "role": item.run.get("role", "fleet"),
        "segment": {"index": index, "count": count} if item.is_fleet else None,
        "started_at": item.run.get("started_at"),
        "devices": item.report["devices"]["connected"],
        "published": item.report["messages"]["published"],
        "ingested": item.report["messages"]["ingested"],
    }


def _started(item: Input) -> bool:
    return item.run.get("started_at_ns") is not None


def _notes(inputs: Sequence[Input], missing: list[str]) -> list[str]:
    notes: list[str] = []
    for item in inputs:
        notes.extend(n for n in item.report.get("notes", []) if n not in notes)
    fleet_starts = [i.run["started_at_ns"] for i in inputs if i.is_fleet and _started(i)]
    for item in inputs:
        if item.is_fleet or not _started(item) or not fleet_starts:
            continue
        late_s = (item.run["started_at_ns"] - min(fleet_starts)) / 1e9
        if late_s > 0:
            notes.append(
                f"the ingest run {item.name} was listening only {late_s:.3f} s after the "
                f"first slice started: what was published before then is counted lost (start "
                f"it before the slices' --start-at)"
            )
    if missing:
        notes.append(
            f"merged without slices {', '.join(missing)}: totals cover the other slices only, "
            f"and what was lost is unknown"
        )
    return notes


# histograms and small sums -----------------------------------------------------------------


def _merged_histograms(inputs: Sequence[Input]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for key in ("connect_us", "tcp_us", "latency_us", "first_telemetry_us"):
        merged[key] = _merge_all((i.name, i.report["histograms"].get(key)) for i in inputs)
    merged["connect_us"] = merged["connect_us"] or Histogram()
    merged["tcp_us"] = merged["tcp_us"] or Histogram()
    stages: dict[str, list[tuple[str, Any]]] = {}
    for item in inputs:
        for name, data in item.report["histograms"].get("funnel_us", {}).items():
            stages.setdefault(name, []).append((item.name, data))
    merged["funnel_us"] = {name: _merge_all(parts) for name, parts in stages.items()}
    return merged


def _merge_all(parts: Iterable[tuple[str, Any]]) -> Histogram | None:
    merged: Histogram | None = None
    for name, data in parts:
        if data is None:
            continue
        try:
            hist = Histogram.from_dict(data)
        except ValueError as exc:
            raise ReportInputError(f"{name}: a histogram is damaged: {exc}") from None
        if merged is None:
            merged = hist
        else:
            try:
                merged.merge(hist)
            except ValueError as exc:
                raise ReportInputError(f"{name}: {exc}") from None
    return merged


def _dump(hist: Histogram | None) -> dict[str, Any] | None:
    return hist.to_dict() if hist is not None else None


def _offset_s(item: Input, origin: int | None) -> float:
    started = item.run.get("started_at_ns")
    if origin is None or started is None:
        return 0.0
    return float((started - origin) / 1e9)


def _span(fleets: Sequence[Input], dotted: str, origin: int | None) -> float:
    """From the earliest start to the latest end of a per-report duration."""
    ends = []
    for item in fleets:
        value: Any = item.report
        for part in dotted.split("."):
            value = value[part]
        ends.append(_offset_s(item, origin) + float(value or 0.0))
    return round(max(ends), 3) if ends else 0.0


def _sum(values: Iterable[Any]) -> int:
    return sum(int(v or 0) for v in values)


def _sum_known(values: Iterable[Any]) -> Any:
    """The sum of the values that are known; None if none is."""
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _counts(dicts: Iterable[Mapping[str, int] | None]) -> dict[str, int]:
    total: dict[str, int] = {}
    for counts in dicts:
        for key, n in (counts or {}).items():
            total[key] = total.get(key, 0) + n
    return dict(sorted(total.items()))


def _summed_figures(sections: Iterable[Mapping[str, Any] | None]) -> dict[str, Any] | None:
    """Counts summed; a time in ms (``p50_ms``...) is the worst of the reports'."""
    known = [s for s in sections if s is not None]
    if not known:
        return None
    merged: dict[str, Any] = {}
    for section in known:
        for key, value in section.items():
            if value is None:
                merged.setdefault(key, None)
            elif key.endswith("_ms"):
                merged[key] = max(value, merged.get(key) or 0)
            elif isinstance(value, int | float):
                merged[key] = merged.get(key, 0) + value
            else:
                merged.setdefault(key, value)
    return merged


def _joined(values: Iterable[Any]) -> Any:
    distinct = list(dict.fromkeys(v for v in values if v is not None))
    if not distinct:
        return None
    return distinct[0] if len(distinct) == 1 else ", ".join(map(str, distinct))
