"""``[[faults]]``: what goes wrong during a run, and when.

Each entry names its ``kind`` and the moment it happens, ``at_s`` seconds after the run began
(the time series' ``t_s``): onboarding and publishing go on around it, and the report says
what it did (see :mod:`simulator.faults`).

- ``broker_restart``: the broker stops and starts again after ``down_s``. The local broker is
  restarted by the run (with persistence, so kept sessions and queued QoS 1/2 messages
  survive); an external one by ``command``, a shell command the user gives (it must return
  once the broker is back).
- ``drop_connections``: ``share`` of the fleet's open connections are cut at once, as a lost
  uplink would: no DISCONNECT, so the broker publishes their wills, and (with
  ``[onboarding] reconnect``) they come back with their jittered backoff.
- ``network``: for ``duration_s`` the fleet's uplink adds ``latency_ms`` (each chunk of bytes
  held that long, more or less ``jitter_ms``) and loses ``loss`` of its chunks, each lost one
  arriving a retransmission timeout later with everything behind it waiting (TCP's view of
  loss: head-of-line blocking, see :mod:`simulator.transport.link`).
- ``partition``: for ``duration_s`` nothing passes between the fleet and the broker, either
  way; connections stay open (keepalives may then expire on either side: that is the point).
- ``slow_sink``: for ``duration_s`` the ingest worker takes ``delay_ms`` longer to commit each
  batch, so a backlog builds up behind it.

``network`` and ``partition`` act on a TCP relay the run puts between its fleet and the
broker (:mod:`simulator.transport.relay`), so they need no privileges and work against any
broker; the ingest workers connect to the broker directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import Field

from simulator.scenario.table import Table

MAX_FAULT_AT_S = 7 * 86_400.0
"""Latest moment a fault may be planned for: a week, as a run's duration."""


class BrokerRestartFault(Table):
    """``kind = "broker_restart"``: the broker goes away for ``down_s`` and comes back."""

    kind: Literal["broker_restart"]
    at_s: Annotated[float, Field(ge=0.0, le=MAX_FAULT_AT_S)]
    """When, in seconds after the run began."""
    down_s: Annotated[float, Field(ge=0.0, le=600.0)] = 1.0
    """How long the local broker stays stopped before it starts again."""
    command: str | None = None
    """For an external broker: the shell command that restarts it (required there)."""


class DropConnectionsFault(Table):
    """``kind = "drop_connections"``: cut ``share`` of the open connections at once."""

    kind: Literal["drop_connections"]
    at_s: Annotated[float, Field(ge=0.0, le=MAX_FAULT_AT_S)]
    """When, in seconds after the run began."""
    share: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0
    """Which part of the open connections is cut, chosen at random (seeded by the scenario)."""


MAX_FAULT_DURATION_S = 86_400.0
"""Longest window a fault may last: a day."""


class NetworkFault(Table):
    """``kind = "network"``: the fleet's uplink slow and lossy for ``duration_s``."""

    kind: Literal["network"]
    at_s: Annotated[float, Field(ge=0.0, le=MAX_FAULT_AT_S)]
    """When, in seconds after the run began."""
    duration_s: Annotated[float, Field(gt=0.0, le=MAX_FAULT_DURATION_S)]
    """How long the conditions last."""
    latency_ms: Annotated[float, Field(ge=0.0, le=60_000.0)] = 0.0
    """Added to every chunk of bytes, each way."""
    jitter_ms: Annotated[float, Field(ge=0.0, le=60_000.0)] = 0.0
    """Each chunk's latency is drawn uniformly from ``latency_ms`` +- this (never below 0);
    order within a connection is kept, as TCP keeps it."""
    loss: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    """Share of chunks lost and sent again a retransmission timeout later."""


class PartitionFault(Table):
    """``kind = "partition"``: nothing passes between fleet and broker for ``duration_s``."""

    kind: Literal["partition"]
    at_s: Annotated[float, Field(ge=0.0, le=MAX_FAULT_AT_S)]
    """When, in seconds after the run began."""
    duration_s: Annotated[float, Field(gt=0.0, le=MAX_FAULT_DURATION_S)]
    """How long the partition lasts."""


class SlowSinkFault(Table):
    """``kind = "slow_sink"``: each ingest batch's commit takes ``delay_ms`` longer."""

    kind: Literal["slow_sink"]
    at_s: Annotated[float, Field(ge=0.0, le=MAX_FAULT_AT_S)]
    """When, in seconds after the run began."""
    duration_s: Annotated[float, Field(gt=0.0, le=MAX_FAULT_DURATION_S)]
    """How long the sink stays slow."""
    delay_ms: Annotated[float, Field(gt=0.0, le=60_000.0)]
    """Added before every batch's commit, per worker."""


LinkFault = NetworkFault | PartitionFault
"""The faults carried out by the relay between fleet and broker."""

WindowFault = NetworkFault | PartitionFault | SlowSinkFault
"""The faults that last a window (``duration_s``) rather than happen at a moment."""

FaultSettings = Annotated[
    BrokerRestartFault | DropConnectionsFault | NetworkFault | PartitionFault | SlowSinkFault,
    Field(discriminator="kind"),
]
"""One ``[[faults]]`` entry, told apart by its ``kind``."""

FAULT_KINDS = ("broker_restart", "drop_connections", "network", "partition", "slow_sink")
"""Every ``kind`` a ``[[faults]]`` entry may have."""


FLEET_SIDE_KINDS = ("drop_connections", "network", "partition")
"""The kinds that act on the fleet's own connections (cut them, or the relay they pass).
A run over worker processes (``run --workers``) has each worker carry these out on its slice,
and its coordinator, which runs the brokers and ingest, the others (``broker_restart``,
``slow_sink``)."""


def fleet_side(faults: Sequence[FaultSettings]) -> list[FaultSettings]:
    """Those of ``faults`` that act on the fleet's own connections (:data:`FLEET_SIDE_KINDS`)."""
    return [fault for fault in faults if fault.kind in FLEET_SIDE_KINDS]


def platform_side(faults: Sequence[FaultSettings]) -> list[FaultSettings]:
    """Those of ``faults`` that act on the broker or ingest: the rest."""
    return [fault for fault in faults if fault.kind not in FLEET_SIDE_KINDS]


def needs_relay(faults: Sequence[FaultSettings]) -> bool:
    """Whether a run with ``faults`` puts the relay between its fleet and the broker."""
    return any(isinstance(fault, NetworkFault | PartitionFault) for fault in faults)
