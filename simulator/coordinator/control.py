"""Live control of a run over worker processes: the dashboard's requests carried to them.

The coordinator of ``run --workers N --web PORT`` checks each request with a
:class:`~simulator.control.RunControl` of its own and keeps it for the report, as one process
does; what it sets, it hands the workers as requests of theirs, one JSON object a line
(``{"control": {...}}``) on the standard input that gave them their start time, which each
worker (``--await-control``) applies with its own ``RunControl``:

- the rate: the factor on the scenario's own rate (a pause is 0), to every worker
  (:class:`WorkersPace`);
- a fault on the fleet's own connections (``drop_connections``, ``network``, ``partition``),
  to every worker, planned at the coordinator's moment on the workers' clock, so that the
  merge makes their shares one fault; one on the broker or ingest, to the coordinator's own
  timeline (:class:`WorkersFaults`).

A request a worker refuses is said under its label; the coordinator has checked it already.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TextIO

from simulator import instructions
from simulator.metrics.faults import FaultRecord
from simulator.scenario.faults import FLEET_SIDE_KINDS, FaultSettings


class Steered(Protocol):
    """A worker that takes requests (:meth:`simulator.coordinator.workers.Worker.send`)."""

    def send(self, request: Mapping[str, Any]) -> None:
        """Hand the worker ``request``."""


class Timeline(Protocol):
    """The coordinator's own fault timeline (a :class:`~simulator.faults.FaultTimeline`)."""

    def trigger(self, fault: FaultSettings, at_s: float | None = None) -> FaultRecord:
        """Carry ``fault`` out now; its record, planned at ``at_s`` (None: now)."""


def control_line(request: Mapping[str, Any]) -> str:
    """``request`` as the line a worker reads, newline included."""
    return json.dumps({"control": dict(request)}, separators=(",", ":")) + "\n"


class WorkersPace:
    """The workers' rate, as one :class:`~simulator.control.Paced`."""

    def __init__(self, workers: Sequence[Steered]) -> None:
        self._workers = workers

    def set(self, t_s: float, factor: float) -> None:
        """Every worker offers ``factor`` times its share of the scenario's rate from now on
        (each on its own clock: ``t_s`` is the coordinator's)."""
        for worker in self._workers:
            worker.send({"action": "rate", "factor": factor})


class WorkersFaults:
    """Faults triggered now, as one :class:`~simulator.control.Triggers`: the workers'
    (on their connections) or the coordinator's timeline's (on the broker and ingest)."""

    def __init__(
        self, workers: Sequence[Steered], timeline: Timeline, now_s: Callable[[], float]
    ) -> None:
        """``now_s`` reads the workers' clock: seconds since they started."""
        self._workers = workers
        self._timeline = timeline
        self._now_s = now_s

    def trigger(self, fault: FaultSettings, at_s: float | None = None) -> FaultRecord:
        """Carry ``fault`` out now where it acts; its record (a worker's share of a fleet's
        fault reaches the report with the worker's)."""
        if fault.kind not in FLEET_SIDE_KINDS:
            return self._timeline.trigger(fault, at_s)
        planned = round(self._now_s(), 3) if at_s is None else at_s
        table = fault.model_dump(mode="json")
        for worker in self._workers:
            worker.send({"action": "fault", "fault": table, "at_s": planned})
        return FaultRecord(fault.kind, planned, getattr(fault, "duration_s", None))


def parse(line: str) -> Mapping[str, Any]:
    """The request on a worker's line (:func:`control_line`); ValueError saying why not."""
    try:
        request = json.loads(line)["control"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"not a control line ({exc!r}): {line.strip()!r}") from None
    if not isinstance(request, dict):
        raise ValueError(f"not a control line (not an object): {line.strip()!r}")
    return request


def follow(
    stream: TextIO,
    loop: asyncio.AbstractEventLoop,
    apply: Callable[[Mapping[str, Any]], None],
    refuse: Callable[[str], None],
) -> threading.Thread:
    """A worker's side: each request on ``stream`` to ``apply`` on ``loop``, each line that
    is not one to ``refuse``, until end of input (:func:`simulator.instructions.follow`)."""
    return instructions.follow(stream, loop, parse, apply, refuse, name="worker-control")
