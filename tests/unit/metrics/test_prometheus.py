"""The Prometheus collector, read back through prometheus_client's own text parser, and the
Grafana dashboard checked against what the collector really exports."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from simulator.errors import MetricsPortError, ResourceLimitError
from simulator.metrics.histogram import Histogram
from simulator.metrics.prometheus import (
    CONNECT_BUCKETS_S,
    LATENCY_BUCKETS_S,
    RoleProcessCollector,
    RunCollector,
)
from simulator.metrics.timeseries import Totals

DASHBOARD = Path(__file__).resolve().parents[3] / "deploy" / "grafana" / "factory-sim.json"
HAS_PROC = Path("/proc/self/stat").exists()

FLEET_FAMILIES = {
    "factory_sim_devices_target": "gauge",
    "factory_sim_devices_connected": "gauge",
    "factory_sim_devices_onboarded": "counter",
    "factory_sim_connect_failures": "counter",
    "factory_sim_messages_published": "counter",
    "factory_sim_messages_acked": "counter",
    "factory_sim_scheduler_overrun": "counter",
    "factory_sim_connect_duration_seconds": "histogram",
}
INGEST_FAMILIES = {
    "factory_sim_messages_received": "counter",
    "factory_sim_messages_ingested": "counter",
    "factory_sim_messages_duplicated": "counter",
    "factory_sim_messages_out_of_order": "counter",
    "factory_sim_messages_malformed": "counter",
    "factory_sim_messages_lost": "gauge",
    "factory_sim_latency_seconds": "histogram",
}
INFO_FAMILY = {"factory_sim_info": "gauge"}  # the text format has no info type

LATENCIES_US = [120, 480, 900, 1_500, 7_000, 42_000, 300_000, 2_400_000, 20_000_000]
CONNECTS_US = [800, 3_000, 3_100, 60_000, 12_000_000]


def synthetic_totals() -> Totals:
    totals = Totals(
        t_s=12.5,
        phase="publishing",
        devices_target=1_000,
        connected=990,
        onboarded=995,
        connect_failed=5,
        published=50_000,
        acked=49_000,
        received=49_800,
        ingested=49_700,
        missing=300,
        duplicated=100,
        out_of_order=40,
        malformed=2,
        overrun=17,
    )
    for value in LATENCIES_US:
        totals.latency_us.record(value)
    for value in CONNECTS_US:
        totals.connect_us.record(value)
    return totals


def exposition(collector: RunCollector | RoleProcessCollector) -> str:
    registry = CollectorRegistry()
    registry.register(collector)
    return generate_latest(registry).decode()


def scrape(collector: RunCollector | RoleProcessCollector) -> dict[str, Metric]:
    text = exposition(collector)
    return {family.name: family for family in text_string_to_metric_families(text)}


def sample_names(families: dict[str, Metric]) -> set[str]:
    return {s.name for family in families.values() for s in family.samples}


def value(families: dict[str, Metric], sample_name: str) -> float:
    (sample,) = (s for f in families.values() for s in f.samples if s.name == sample_name)
    return float(sample.value)


def buckets(families: dict[str, Metric], name: str) -> list[tuple[float, float]]:
    return [
        (float(s.labels["le"]), s.value)
        for s in families[name].samples
        if s.name.endswith("_bucket")
    ]


@pytest.mark.parametrize(
    ("role", "ingest", "expected"),
    [
        ("simulator", True, FLEET_FAMILIES | INGEST_FAMILIES | INFO_FAMILY),
        ("simulator", False, FLEET_FAMILIES | INFO_FAMILY),
        ("ingest", True, INGEST_FAMILIES | INFO_FAMILY),
        ("ingest", False, INGEST_FAMILIES | INFO_FAMILY),
    ],
)
def test_each_role_exports_its_families_with_their_types(
    role: str, ingest: bool, expected: dict[str, str]
) -> None:
    families = scrape(RunCollector(synthetic_totals, role, ingest=ingest))
    assert {name: family.type for name, family in families.items()} == expected


def test_every_sample_carries_the_role_and_counters_end_in_total() -> None:
    families = scrape(RunCollector(synthetic_totals, "simulator"))
    for family in families.values():
        for sample in family.samples:
            assert sample.labels["role"] == "simulator"
            if family.type == "counter":
                assert sample.name == family.name + "_total"


def test_values_are_the_totals_fields() -> None:
    families = scrape(RunCollector(synthetic_totals, "simulator"))
    t = synthetic_totals()
    expected = {
        "factory_sim_devices_target": t.devices_target,
        "factory_sim_devices_connected": t.connected,
        "factory_sim_devices_onboarded_total": t.onboarded,
        "factory_sim_connect_failures_total": t.connect_failed,
        "factory_sim_messages_published_total": t.published,
        "factory_sim_messages_acked_total": t.acked,
        "factory_sim_scheduler_overrun_total": t.overrun,
        "factory_sim_messages_received_total": t.received,
        "factory_sim_messages_ingested_total": t.ingested,
        "factory_sim_messages_duplicated_total": t.duplicated,
        "factory_sim_messages_out_of_order_total": t.out_of_order,
        "factory_sim_messages_malformed_total": t.malformed,
        "factory_sim_messages_lost": t.missing,
    }
    assert {name: value(families, name) for name in expected} == expected


@pytest.mark.parametrize(
    ("name", "edges", "recorded"),
    [
        ("factory_sim_latency_seconds", LATENCY_BUCKETS_S, LATENCIES_US),
        ("factory_sim_connect_duration_seconds", CONNECT_BUCKETS_S, CONNECTS_US),
    ],
)
def test_histograms_are_cumulative_in_seconds(
    name: str, edges: tuple[float, ...], recorded: list[int]
) -> None:
    families = scrape(RunCollector(synthetic_totals, "simulator"))
    got = buckets(families, name)
    assert [le for le, _ in got] == [*edges, math.inf]
    counts = [n for _, n in got]
    assert counts == sorted(counts)
    assert counts[-1] == value(families, name + "_count") == len(recorded)
    # Each edge counts the recorded values at or below it (none of them near an edge here).
    assert counts[:-1] == [sum(v <= edge * 1e6 for v in recorded) for edge in edges]
    assert value(families, name + "_sum") == pytest.approx(sum(recorded) / 1e6, rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=60_000_000), max_size=200))
def test_latency_buckets_understate_by_less_than_the_histogram_error(values: list[int]) -> None:
    totals = Totals(t_s=1.0)
    for v in values:
        totals.latency_us.record(v)
    families = scrape(RunCollector(lambda: totals, "ingest"))
    got = buckets(families, "factory_sim_latency_seconds")
    assert got[-1] == (math.inf, len(values))
    counts = [n for _, n in got]
    assert counts == sorted(counts)
    error = 2.0 ** -Histogram().significant_bits
    for edge, n in got[:-1]:
        edge_us = edge * 1e6
        assert (
            sum(v <= edge_us * (1 - error) for v in values)
            <= n
            <= sum(v <= edge_us for v in values)
        )
    assert value(families, "factory_sim_latency_seconds_sum") == pytest.approx(sum(values) / 1e6)


def test_no_totals_yet_serves_only_the_info() -> None:
    info = {"scenario": "quickstart", "broker": "mqtt://127.0.0.1:1883"}
    families = scrape(RunCollector(lambda: None, "simulator", info))
    assert list(families) == ["factory_sim_info"]
    (sample,) = families["factory_sim_info"].samples
    assert sample.name == "factory_sim_info"
    assert sample.labels == {"role": "simulator", **info}
    assert sample.value == 1


def test_info_hides_a_password_in_a_url() -> None:
    info = {"broker": "mqtts://plant:s3cret@broker.example:8883/", "scenario": "a@b"}
    families = scrape(RunCollector(lambda: None, "ingest", info))
    (sample,) = families["factory_sim_info"].samples
    assert sample.labels["broker"] == "mqtts://plant:***@broker.example:8883/"
    assert sample.labels["scenario"] == "a@b"
    assert "s3cret" not in exposition(RunCollector(lambda: None, "ingest", info))


def test_the_provider_is_read_once_per_scrape() -> None:
    calls: list[int] = []

    def provider() -> Totals:
        calls.append(1)
        return synthetic_totals()

    collector = RunCollector(provider, "simulator")
    assert calls == []
    exposition(collector)
    exposition(collector)
    assert len(calls) == 2


@pytest.mark.parametrize(
    "bad",
    [
        {"role": "x"},
        {"9lives": "x"},
        {"__name__": "x"},
        {"broker-url": "x"},
    ],
)
def test_info_keys_must_be_label_names_other_than_role(bad: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="info keys"):
        RunCollector(lambda: None, "simulator", bad)


def test_an_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError, match="role must be one of simulator, ingest"):
        RunCollector(lambda: None, "gateway")


# A platform condition: the process figures exist only where /proc does (Linux, as in CI).
@pytest.mark.skipif(not HAS_PROC, reason="process figures come from /proc")
@pytest.mark.parametrize("role", ["simulator", "ingest"])
def test_process_families_carry_the_role(role: str) -> None:
    families = scrape(RoleProcessCollector(role))
    assert families["process_resident_memory_bytes"].type == "gauge"
    assert families["process_cpu_seconds"].type == "counter"
    assert value(families, "process_resident_memory_bytes") > 0
    for family in families.values():
        assert all(s.labels == {"role": role} for s in family.samples)


def test_the_port_error_is_a_resource_limit_naming_the_port() -> None:
    error = MetricsPortError("127.0.0.1", 9464, "port 9464 is already in use")
    assert isinstance(error, ResourceLimitError)
    assert error.port == 9464
    assert "127.0.0.1:9464" in str(error)


# The dashboard ---------------------------------------------------------------------------

SELECTOR = re.compile(r"\b((?:factory_sim|process)_[a-z_]+)\b(\{[^}]*\})?")
ROLE_MATCHER = re.compile(r'role\s*(=~|=)\s*"([^"]*)"')


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def all_panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for panel in panels:
        found.append(panel)
        nested = panel.get("panels")
        if isinstance(nested, list):
            found.extend(all_panels(nested))
    return found


def targets(data: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) for every query in the dashboard."""
    found = []
    for panel in all_panels(data["panels"]):
        for target in panel.get("targets", []):
            found.append((str(panel["title"]), str(target["expr"])))
    return found


def ingest_role_options(data: dict[str, Any]) -> list[str]:
    (variable,) = (v for v in data["templating"]["list"] if v["name"] == "ingest_role")
    return [str(option["value"]) for option in variable["options"]]


def exported_by_role() -> dict[str, set[str]]:
    """Sample names each role's /metrics serves during a run (process ones where on Linux)."""
    exported = {}
    for role in ("simulator", "ingest"):
        names = sample_names(scrape(RunCollector(synthetic_totals, role)))
        if HAS_PROC:
            names |= sample_names(scrape(RoleProcessCollector(role)))
        exported[role] = names
    return exported


def balanced(expr: str) -> bool:
    closing = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    for char in re.sub(r'"[^"]*"', '""', expr):
        if char in "([{":
            stack.append(char)
        elif char in closing and (not stack or stack.pop() != closing[char]):
            return False
    return not stack


def test_the_dashboard_is_a_grafana_dashboard_with_a_prometheus_datasource_variable() -> None:
    data = dashboard()
    assert 36 <= data["schemaVersion"] <= 41
    (source,) = (v for v in data["templating"]["list"] if v["name"] == "datasource")
    assert (source["type"], source["query"]) == ("datasource", "prometheus")
    panels = all_panels(data["panels"])
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        for target in panel.get("targets", []):
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_every_dashboard_query_uses_metrics_the_collector_exports_for_its_roles() -> None:
    data = dashboard()
    exported = exported_by_role()
    ingest_roles = ingest_role_options(data)
    assert sorted(ingest_roles) == ["ingest", "simulator"]
    checked = 0
    for title, expr in targets(data):
        assert balanced(expr), (title, expr)
        selectors = SELECTOR.findall(expr)
        assert selectors, (title, expr)
        for name, matchers in selectors:
            role = ROLE_MATCHER.search(matchers)
            assert role is not None, f"{title}: {name} has no role matcher, so roles would mix"
            op, wanted = role.groups()
            roles = wanted.split("|") if op == "=~" else [wanted]
            if roles == ["$ingest_role"]:
                roles = ingest_roles
            for r in roles:
                if name.startswith("process_") and not HAS_PROC:
                    continue
                assert name in exported[r], f"{title}: {name} is not exported by role={r}"
                checked += 1
    assert checked >= 20


def base_name(sample: str) -> str:
    return re.sub(r"_(bucket|sum|count)$", "", sample)


def test_the_dashboard_shows_every_figure_that_watches_a_run() -> None:
    used = {
        base_name(name) for _, expr in targets(dashboard()) for name, _ in SELECTOR.findall(expr)
    }
    wanted: set[str] = {
        "factory_sim_info",
        "factory_sim_devices_connected",
        "factory_sim_devices_target",
        "factory_sim_devices_onboarded_total",
        "factory_sim_messages_published_total",
        "factory_sim_messages_ingested_total",
        "factory_sim_latency_seconds",
        "factory_sim_connect_duration_seconds",
        "factory_sim_messages_lost",
        "factory_sim_messages_duplicated_total",
        "factory_sim_messages_malformed_total",
        "factory_sim_scheduler_overrun_total",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
    }
    assert wanted <= used


def test_histogram_quantiles_aggregate_by_le() -> None:
    quantiles = [e for _, e in targets(dashboard()) if "histogram_quantile" in e]
    assert len(quantiles) >= 4
    for expr in quantiles:
        assert re.search(r"sum by \(le\) \(rate\([a-z_]+_bucket\{", expr), expr


def with_faults() -> Totals:
    totals = synthetic_totals()
    totals.faults_active = {"network": 1, "partition": 0}
    return totals


def test_a_run_with_faults_has_a_gauge_per_kind_one_while_in_force() -> None:
    families = scrape(RunCollector(with_faults, "simulator"))
    family = families["factory_sim_fault_active"]
    assert family.type == "gauge"
    assert {s.labels["kind"]: s.value for s in family.samples} == {"network": 1, "partition": 0}
    assert all(s.labels["role"] == "simulator" for s in family.samples)
    # A run without faults does not pretend to have none in force: no family at all.
    assert "factory_sim_fault_active" not in scrape(RunCollector(synthetic_totals, "simulator"))


def test_the_dashboard_annotates_faults_from_the_gauge_the_simulator_exports() -> None:
    (annotation,) = dashboard()["annotations"]["list"]
    assert annotation["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    expr = annotation["expr"]
    assert balanced(expr)
    names = sample_names(scrape(RunCollector(with_faults, "simulator")))
    for name, matchers in SELECTOR.findall(expr):
        assert name in names
        assert ROLE_MATCHER.findall(matchers) == [("=", "simulator")]
    assert "{{kind}}" in annotation["titleFormat"]
