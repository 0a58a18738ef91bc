"""An ingest snapshot crosses the process boundary whole, and snapshots of workers add up."""

from __future__ import annotations

import dataclasses
import json

from simulator.metrics.histogram import Histogram
from simulator.metrics.ingest import GroupIngest, IngestSnapshot


def histogram(*values: int) -> Histogram:
    hist = Histogram()
    for value in values:
        hist.record(value)
    return hist


def full(scale: int) -> IngestSnapshot:
    """A snapshot with every field set (none left at its default)."""
    return IngestSnapshot(
        taken_ns=10_000 * scale,
        received=10 * scale,
        unique=9 * scale,
        duplicated=1 * scale,
        out_of_order=2 * scale,
        missing=3 * scale,
        devices_seen=4 * scale,
        malformed=5 * scale,
        clock_skew=6 * scale,
        latency_us=histogram(100 * scale, 200 * scale),
        sink_kind="sqlite",
        run_id="r-1",
        sink="sqlite:///runs/x.sqlite",
        committed_rows=7 * scale,
        committed_unique=6 * scale,
        failed_rows=2 * scale,
        failed_unique=2 * scale,
        pending_rows=1 * scale,
        sink_errors={"disk_full": 2 * scale},
        sink_retries=3 * scale,
        sink_error=f"disk full ({scale})",
        rows_before=11,
        first_recv_ns=1_000 * scale,
        last_recv_ns=2_000 * scale,
        reconnects=1 * scale,
        notes=[f"note {scale}"],
        first_telemetry_reached=3 * scale,
        first_telemetry_us=histogram(5_000 * scale),
        deaths={"left": scale, "lost": 0, "invalid": 0},
        responder={"accepted": scale},
        sparkplug={"NBIRTH": scale},
        groups=[GroupIngest(4 * scale, histogram(300 * scale)), GroupIngest(5 * scale)],
    )


def test_every_field_is_set_in_the_sample() -> None:
    empty = IngestSnapshot()
    for field in dataclasses.fields(IngestSnapshot):
        assert getattr(full(1), field.name) != getattr(empty, field.name), field.name


def test_a_snapshot_survives_json_whole() -> None:
    snap = full(1)
    again = IngestSnapshot.from_dict(json.loads(json.dumps(snap.to_dict())))
    assert again.to_dict() == snap.to_dict()
    assert again.latency_us.count == 2


def test_two_workers_add_up() -> None:
    merged = full(1)
    merged.merge(full(2))
    assert merged.received == 30
    assert merged.committed_unique == 18
    assert merged.resolved_unique == 18 + 6
    assert merged.sink_errors == {"disk_full": 6}
    assert merged.latency_us.count == 4
    assert merged.first_recv_ns == 1_000
    assert merged.last_recv_ns == 4_000
    assert merged.sink_error == "disk full (1)"
    assert merged.notes == ["note 1", "note 2"]
    assert merged.first_telemetry_reached == 9
    assert merged.first_telemetry_us is not None
    assert merged.first_telemetry_us.count == 2
    assert merged.deaths == {"left": 3, "lost": 0, "invalid": 0}


def test_what_a_dead_worker_leaves_is_what_the_sink_cannot_give_back() -> None:
    """A restarted worker reads received, unique, duplicated, missing, devices and committed
    rows back from the sink; the dead one's last line adds the rest, and nothing twice."""
    dead, restarted = full(1), full(3)
    left = dead.carried()
    for name in (
        "received",
        "unique",
        "duplicated",
        "missing",
        "devices_seen",
        "committed_rows",
        "committed_unique",
        "pending_rows",
    ):
        assert getattr(left, name) == 0, name
    total = IngestSnapshot.from_dict(restarted.to_dict())
    total.merge(left)
    assert (total.received, total.committed_unique, total.devices_seen) == (30, 18, 12)
    assert (total.malformed, total.out_of_order, total.failed_unique) == (20, 8, 8)
    assert total.latency_us.count == 4
    assert total.deaths == {"left": 4, "lost": 0, "invalid": 0}
    assert total.first_recv_ns == 1_000
    assert dead.received == 10  # the dead worker's own figures are untouched
