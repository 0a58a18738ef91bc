"""What an ingest worker has measured so far: one typed value that crosses the process boundary.

The worker builds an :class:`IngestSnapshot` once per progress interval and once at the end;
``run`` reads it back from the worker's JSON lines (:meth:`IngestSnapshot.from_dict`), the
monitor and the report take their figures from it. Counts are cumulative since the worker
started, so a later snapshot supersedes an earlier one and snapshots of several workers add up
(:meth:`IngestSnapshot.merge`).

Three counts of the same messages, from the wire to the disk:

- ``received``: every telemetry message that decoded (duplicates included);
- ``unique``: distinct (device, sequence) pairs among them;
- ``committed_unique``: of those, the ones whose row a sink transaction has committed. This is
  what the report calls ingested. ``failed_unique`` could not be stored (retries exhausted) and
  are lost; the rest (``unique - committed_unique - failed_unique``) are still on their way to
  the sink.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict

from simulator.metrics.histogram import Histogram


class WorkerShare(TypedDict):
    """One worker's part of a run with several, as the report lists it."""

    client_id: str
    topic_filters: int | None
    """How many topic filters its share is (None: one worker, the whole topic space)."""
    received: int | None
    committed_rows: int | None
    registrations: int | None
    exit_status: int | None
    restarts: int
    """Times this worker died and was started again in the run."""


class WorkerRestart(TypedDict):
    """One death of an ingest worker that the run answered by starting it again."""

    client_id: str
    exit_status: int | None
    """The dead process's exit status (negative: the signal that killed it)."""
    reason: str
    """The same in words, with the error it said if it said one."""


@dataclass(slots=True)
class GroupIngest:
    """What ingest received of one fleet group (model, interval, payload format)."""

    unique: int = 0
    """Distinct (device, sequence) pairs of the group's devices."""
    latency_us: Histogram = field(default_factory=Histogram)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"unique": self.unique, "latency_us": self.latency_us.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GroupIngest:
        """The figures :meth:`to_dict` wrote."""
        return cls(data["unique"], Histogram.from_dict(data["latency_us"]))


@dataclass(slots=True)
class IngestSnapshot:
    """One worker's cumulative figures (or several workers' merged)."""

    taken_ns: int = 0
    """Wall clock when the worker took these figures, so rates come from its own clock and
    not from when a reader happened to read them."""
    received: int = 0
    unique: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    missing: int = 0
    """Sequence numbers skipped so far (gaps not yet filled by a late arrival)."""
    devices_seen: int = 0
    malformed: int = 0
    clock_skew: int = 0
    """Messages stamped later than they arrived (the sender's clock is ahead)."""
    latency_us: Histogram = field(default_factory=Histogram)
    sink_kind: str = ""
    run_id: str = ""
    """The run every stored row is marked with."""
    sink: str = ""
    """Where rows go, password masked (``sqlite:///runs/q.sqlite``, ``postgresql://...``)."""
    committed_rows: int = 0
    """Rows (duplicates included) that a sink transaction has committed."""
    committed_unique: int = 0
    failed_rows: int = 0
    """Rows the sink could not store within the retry time; given up on."""
    failed_unique: int = 0
    pending_rows: int = 0
    """Rows batched or being written, fate not yet known."""
    sink_errors: dict[str, int] = field(default_factory=dict)
    """Rows given up on, by reason (``disk_full``, ``locked``, ...)."""
    sink_retries: int = 0
    """Failed write attempts that were tried again."""
    sink_error: str | None = None
    """The first error that made rows fail, in full."""
    rows_before: int = 0
    """Rows of earlier runs the storage already held."""
    first_recv_ns: int | None = None
    last_recv_ns: int | None = None
    reconnects: int = 0
    notes: list[str] = field(default_factory=list)
    first_telemetry_reached: int | None = None
    """Devices whose first telemetry arrived after their registration (register workflow)."""
    first_telemetry_us: Histogram | None = None
    """Their time from connection attempt to first ingested message, in microseconds."""
    deaths: dict[str, int] | None = None
    """Devices named by the deaths heard, by reason (``left``, ``lost``, ``invalid``)."""
    responder: dict[str, int] | None = None
    """What the worker's provisioning responder answered."""
    sparkplug: dict[str, int] | None = None
    """Sparkplug B messages that are not telemetry, by type."""
    groups: list[GroupIngest] | None = None
    """Per fleet group, in the fleet's order, when the fleet has several (None: one)."""

    @property
    def resolved_unique(self) -> int:
        """Distinct messages whose fate is known: committed or given up on."""
        return self.committed_unique + self.failed_unique

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for the worker's progress and final lines."""
        data = {name: getattr(self, name) for name in _FIELDS}
        data["latency_us"] = self.latency_us.to_dict()
        if self.first_telemetry_us is not None:
            data["first_telemetry_us"] = self.first_telemetry_us.to_dict()
        if self.groups is not None:
            data["groups"] = [group.to_dict() for group in self.groups]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IngestSnapshot:
        """The snapshot :meth:`to_dict` wrote; unknown keys are ignored (a newer worker)."""
        values = {name: data[name] for name in _FIELDS if name in data}
        values["latency_us"] = Histogram.from_dict(data["latency_us"])
        first = data.get("first_telemetry_us")
        values["first_telemetry_us"] = Histogram.from_dict(first) if first is not None else None
        groups = data.get("groups")
        values["groups"] = [GroupIngest.from_dict(g) for g in groups] if groups else None
        return cls(**values)

    def carried(self) -> IngestSnapshot:
        """What of these figures a worker restarted in place of this one (dead) cannot read
        back from the sink, to be added to the new one's: a copy with the counts the sink
        holds (received, unique, duplicated, missing, devices, committed rows) and the rows
        still pending (lost with the process, or sent again by the broker) at zero.

        The new worker counts those from what the run stored (``resume_from_sink``), so adding
        them too would count every committed message twice. What it cannot count, deliveries'
        latency, malformed and late messages, rows given up, registrations answered, deaths
        heard and the like, is what this worker had said in its last line: anything after it
        died with it.
        """
        copy = IngestSnapshot.from_dict(self.to_dict())
        for name in _FROM_SINK:
            setattr(copy, name, 0)
        for group in copy.groups or ():
            group.unique = 0  # read back from the sink's rows, device by device
        return copy

    def merge(self, other: IngestSnapshot) -> None:
        """Add another worker's figures to these (several workers of one run)."""
        for name in _SUMMED:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.latency_us.merge(other.latency_us)
        for reason, rows in other.sink_errors.items():
            self.sink_errors[reason] = self.sink_errors.get(reason, 0) + rows
        self.sink_error = self.sink_error or other.sink_error
        self.taken_ns = max(self.taken_ns, other.taken_ns)
        self.first_recv_ns = _least(self.first_recv_ns, other.first_recv_ns)
        if other.last_recv_ns is not None:
            self.last_recv_ns = max(self.last_recv_ns or 0, other.last_recv_ns)
        self.notes.extend(n for n in other.notes if n not in self.notes)
        if other.first_telemetry_us is not None:
            if self.first_telemetry_us is None:
                self.first_telemetry_us = Histogram()
            self.first_telemetry_us.merge(other.first_telemetry_us)
            self.first_telemetry_reached = (self.first_telemetry_reached or 0) + (
                other.first_telemetry_reached or 0
            )
        self.deaths = _add_counts(self.deaths, other.deaths)
        self.responder = _add_counts(self.responder, other.responder)
        self.sparkplug = _add_counts(self.sparkplug, other.sparkplug)
        if other.groups is not None:
            if self.groups is None:
                self.groups = [GroupIngest() for _ in other.groups]
            for mine, theirs in zip(self.groups, other.groups, strict=True):
                mine.unique += theirs.unique
                mine.latency_us.merge(theirs.latency_us)


def _least(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _add_counts(a: dict[str, int] | None, b: dict[str, int] | None) -> dict[str, int] | None:
    if a is None or b is None:
        return a if b is None else dict(b)
    return {key: a.get(key, 0) + b.get(key, 0) for key in a.keys() | b.keys()}


_FIELDS = tuple(IngestSnapshot.__dataclass_fields__)
_FROM_SINK = (
    "received",
    "unique",
    "duplicated",
    "missing",
    "devices_seen",
    "committed_rows",
    "committed_unique",
    "pending_rows",
)
"""Counts a restarted worker reads back from the sink (see :meth:`IngestSnapshot.carried`)."""
_SUMMED = (
    "received",
    "unique",
    "duplicated",
    "out_of_order",
    "missing",
    "devices_seen",
    "malformed",
    "clock_skew",
    "committed_rows",
    "committed_unique",
    "failed_rows",
    "failed_unique",
    "pending_rows",
    "sink_retries",
    "reconnects",
)
