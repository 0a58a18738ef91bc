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
"""

from __future__ import annotations

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


FaultSettings = Annotated[BrokerRestartFault | DropConnectionsFault, Field(discriminator="kind")]
"""One ``[[faults]]`` entry, told apart by its ``kind``."""

FAULT_KINDS = ("broker_restart", "drop_connections")
"""Every ``kind`` a ``[[faults]]`` entry may have."""
