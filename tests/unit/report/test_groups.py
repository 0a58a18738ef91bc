"""The report's ``groups``: the fleet's per-group counts with ingest's, or the run's for one."""

from __future__ import annotations

from simulator.metrics.ingest import GroupIngest, IngestSnapshot
from simulator.report.groups import FleetGroup, group_figures

SENSORS = FleetGroup("machine-sensor", "msgpack", 1.0, False, 10, 100)
ROBOTS = FleetGroup("robot", "json", 0.5, True, 4, 80)


def test_several_groups_take_ingest_s_counts_of_each() -> None:
    ingest = IngestSnapshot(committed_unique=170, groups=[GroupIngest(100), GroupIngest(70)])
    ingest.groups[1].latency_us.record(4_000)  # type: ignore[index]

    sensors, robots = group_figures([SENSORS, ROBOTS], ingest)

    assert (sensors["published"], sensors["ingested"], sensors["lost"]) == (100, 100, 0)
    assert sensors["latency_ms_p99"] is None
    assert (robots["connection"], robots["ingested"], robots["lost"]) == ("gateway", 70, 10)
    assert robots["latency_ms_p50"] == 4.0


def test_one_group_is_the_whole_run() -> None:
    ingest = IngestSnapshot(committed_unique=95)
    ingest.latency_us.record(1_000)

    (only,) = group_figures([SENSORS], ingest)

    assert (only["ingested"], only["lost"], only["latency_ms_p50"]) == (95, 5, 1.0)


def test_without_ingest_nothing_is_measured() -> None:
    (only,) = group_figures([SENSORS], None)

    assert (only["ingested"], only["lost"], only["latency_ms_p99"]) == (None, None, None)
