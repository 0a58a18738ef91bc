"""A coordinator's live control: what it hands its workers, and how a worker reads it."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Mapping
from typing import Any

from simulator.coordinator.control import WorkersFaults, WorkersPace, control_line, follow
from simulator.metrics.faults import FaultRecord
from simulator.scenario.faults import DropConnectionsFault, FaultSettings, SlowSinkFault
from tests.waiting import wait_until


class Worker:
    """Keeps what it was handed."""

    def __init__(self) -> None:
        self.requests: list[Mapping[str, Any]] = []

    def send(self, request: Mapping[str, Any]) -> None:
        self.requests.append(request)


class Timeline:
    """The coordinator's own timeline: keeps what it was asked to carry out."""

    def __init__(self) -> None:
        self.triggered: list[tuple[str, float | None]] = []

    def trigger(self, fault: FaultSettings, at_s: float | None = None) -> FaultRecord:
        self.triggered.append((fault.kind, at_s))
        return FaultRecord(fault.kind, 1.0)


def test_the_rate_goes_to_every_worker_as_a_factor() -> None:
    workers = [Worker(), Worker()]
    WorkersPace(workers).set(12.0, 0.5)
    assert [w.requests for w in workers] == [[{"action": "rate", "factor": 0.5}]] * 2


def test_a_fault_on_the_fleet_goes_to_the_workers_planned_at_one_moment() -> None:
    workers, timeline = [Worker(), Worker()], Timeline()
    faults = WorkersFaults(workers, timeline, now_s=lambda: 7.25)
    cut = DropConnectionsFault(kind="drop_connections", at_s=0.0, share=0.5)

    record = faults.trigger(cut)

    assert (record.kind, record.at_s) == ("drop_connections", 7.25)
    sent = {"action": "fault", "fault": cut.model_dump(mode="json"), "at_s": 7.25}
    assert [w.requests for w in workers] == [[sent], [sent]]
    assert timeline.triggered == []


def test_a_fault_on_ingest_stays_with_the_coordinator() -> None:
    workers, timeline = [Worker()], Timeline()
    slow = SlowSinkFault(kind="slow_sink", at_s=0.0, duration_s=2.0, delay_ms=50.0)
    WorkersFaults(workers, timeline, now_s=lambda: 3.0).trigger(slow)
    assert timeline.triggered == [("slow_sink", None)]
    assert workers[0].requests == []


async def test_a_worker_reads_each_request_and_refuses_what_is_not_one() -> None:
    stream = io.StringIO(
        control_line({"action": "pause"}) + "\n" + "not json\n" + '{"other": 1}\n'
        + control_line({"action": "rate", "factor": 2.0})
    )  # fmt: skip
    applied: list[Mapping[str, Any]] = []
    refused: list[str] = []
    follow(stream, asyncio.get_running_loop(), applied.append, refused.append)
    await wait_until(lambda: len(applied) + len(refused) == 4, "every line read")
    assert applied == [{"action": "pause"}, {"action": "rate", "factor": 2.0}]
    assert [text.split(" (")[0] for text in refused] == ["not a control line"] * 2
