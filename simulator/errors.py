"""The package's one exception root and its tree.

Every error the simulator raises on purpose derives from :class:`SimulatorError`,
so a caller can catch one class and still tell whose fault it was::

    SimulatorError
    ├── ProtocolError                 MQTT went wrong
    │   ├── LocalProtocolError        we misused the protocol (a bug or a bad argument here)
    │   └── RemoteProtocolError       the peer sent something malformed or unexpected
    ├── ConnectError                  a connection could not be made or was refused
    │   ├── BrokerUnreachableError    TCP connect failed or timed out
    │   ├── BrokerRefusedError        the broker answered CONNACK with a failure reason
    │   └── BrokerCapabilityError     the broker lacks something the run relies on
    ├── ScenarioError                 a scenario is invalid; carries every problem at once
    ├── ResourceLimitError            the run needs more than this process may have
    ├── BrokerLaunchError             a local Mosquitto could not be found, started or stopped
    ├── PayloadError                  a payload could not be encoded or decoded
    └── SinkError                     a sink could not store a batch

Nothing here imports anything else from the package.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class SimulatorError(Exception):
    """Root of every error the simulator raises on purpose."""


class ProtocolError(SimulatorError):
    """Something went wrong at the MQTT protocol level."""


class LocalProtocolError(ProtocolError):
    """We tried to do something the protocol does not allow (our fault)."""


class RemoteProtocolError(ProtocolError):
    """The peer sent bytes or a packet that break the protocol (their fault)."""


class ConnectError(SimulatorError):
    """A connection to the broker could not be established."""


class BrokerUnreachableError(ConnectError):
    """The broker did not accept a TCP connection in time."""


class BrokerRefusedError(ConnectError):
    """The broker answered CONNACK with a failure reason code."""

    def __init__(self, message: str, reason_code: int) -> None:
        super().__init__(message)
        self.reason_code = reason_code


@dataclass(frozen=True, slots=True)
class ScenarioProblem:
    """One problem found in a scenario: where it is and what is allowed."""

    source: str
    """The file (or ``<command line>``) the value came from."""
    path: str
    """Dotted key path, e.g. ``fleet.devices``."""
    message: str
    """What is wrong and what is allowed."""

    def __str__(self) -> str:
        return f"{self.source}: {self.path}: {self.message}"


class ScenarioError(SimulatorError):
    """A scenario is invalid. ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: Sequence[ScenarioProblem]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in scenario:\n{lines}")


class BrokerCapabilityError(ConnectError):
    """The broker's CONNACK rules out something the run relies on (names both and what to do)."""


class ResourceLimitError(SimulatorError):
    """The run needs more of a resource (open files, ports) than this process can have."""


class BrokerLaunchError(SimulatorError):
    """A local Mosquitto could not be found, started or stopped."""


class PayloadError(SimulatorError):
    """A payload could not be encoded or decoded."""


class SinkError(SimulatorError):
    """A sink failed to store a batch; ``reason`` says why in one word of
    :data:`simulator.sinks.REASONS` (``disk_full``, ``locked``, ``permission``, ``constraint``,
    ``connection_lost``, ``closed``, ``other``)."""

    def __init__(self, message: str, reason: str = "other") -> None:
        super().__init__(message)
        self.reason = reason
