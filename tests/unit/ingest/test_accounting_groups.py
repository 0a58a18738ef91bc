"""Accounting by fleet group: each message counted to the group its device's index falls in."""

from __future__ import annotations

from simulator.ingest.accounting import Accounting
from simulator.metrics.ingest import GroupIngest, IngestSnapshot
from simulator.sinks import Row


def row(device_id: str, seq: int, latency_us: int) -> Row:
    return Row(device_id, seq, 0, latency_us * 1000, "t", None, {})


def test_a_fleet_of_several_groups_is_counted_by_group() -> None:
    acc = Accounting(group_starts=(0, 10, 30))
    rows = [
        row("machine-000003", 0, 100),
        row("machine-000003", 1, 100),
        row("robot-000010", 0, 2_000),
        row("robot-000029", 2, 2_000),  # a gap: new, counted
        row("robot-000029", 0, 2_000),  # late: new, counted
        row("robot-000029", 0, 2_000),  # seen before: a duplicate
        row("meter-000031", 0, 50_000),
    ]
    dups: list[int] = []
    acc.record_rows(rows, 0, dups)

    assert dups == [5]
    groups = acc.groups
    assert groups is not None
    assert [g.unique for g in groups] == [2, 3, 1]
    assert [g.latency_us.count for g in groups] == [2, 4, 1]
    assert groups[1].latency_us.percentile(50) == 2_000
    assert acc.unique == 6
    assert acc.latency.count == 7


def test_a_fleet_of_one_group_is_not_counted_apart() -> None:
    acc = Accounting(group_starts=(0,))
    acc.record_rows([row("machine-000001", 0, 10)], 0, [])

    assert acc.groups is None
    assert acc.unique == 1


def test_devices_read_back_from_the_sink_count_to_their_group() -> None:
    acc = Accounting(group_starts=(0, 5))
    acc.seed([("machine-000001", 4, [0, 3]), ("robot-000007", 2, [0, 2])])

    assert [g.unique for g in acc.groups or []] == [3, 2]


def test_group_figures_cross_the_process_boundary_and_add_up() -> None:
    one = IngestSnapshot(groups=[GroupIngest(3), GroupIngest(4)])
    one.groups[0].latency_us.record(10)  # type: ignore[index]
    back = IngestSnapshot.from_dict(one.to_dict())
    back.merge(IngestSnapshot.from_dict(one.to_dict()))

    assert [g.unique for g in back.groups or []] == [6, 8]
    assert (back.groups or [])[0].latency_us.count == 2
    assert [g.unique for g in back.carried().groups or []] == [0, 0]
    assert IngestSnapshot.from_dict(IngestSnapshot().to_dict()).groups is None
