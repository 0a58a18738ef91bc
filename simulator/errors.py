"""The package's one exception root and its tree: every class, in this one module.

Every error the simulator raises on purpose derives from :class:`SimulatorError`,
so a caller can catch one class and still tell whose fault it was::

    SimulatorError
    ├── InvalidArgumentError          a value given to our own API is out of range (a ValueError)
    ├── ProtocolError                 MQTT went wrong
    │   ├── LocalProtocolError        we tried to send what MQTT does not allow (our bug)
    │   │   ├── InflightLimitError    no packet id free: the broker's Receive Maximum is reached
    │   │   └── PacketTooLargeError   over the broker's Maximum Packet Size
    │   └── RemoteProtocolError       the peer sent something malformed or unexpected
    ├── ConnectError                  a connection could not be made or was refused
    │   ├── BrokerUnreachableError    TCP connect failed or timed out
    │   ├── BrokerRefusedError        the broker answered CONNACK with a failure reason
    │   ├── BrokerCapabilityError     the broker lacks something the run relies on
    │   ├── TlsConfigError            a TLS file could not be read or does not fit
    │   │   └── MissingClientFilesError   per-connection certificates or keys are missing
    │   └── TlsError                  the TLS handshake or session failed
    │       └── TlsCertificateError   the broker's certificate was rejected
    ├── ScenarioError                 a scenario is invalid; carries every problem at once
    ├── FleetConfigError              a fleet setting is invalid (turned into scenario problems)
    │   ├── UnknownModelError         no device model has that name
    │   ├── PlantLayoutError          a plant size or device id prefix is out of range
    │   └── TopicTemplateError        a topic template has an unknown placeholder or bad level
    ├── PlanError                     an onboarding plan asked for the impossible
    ├── ResourceLimitError            the run needs more than this process may have
    │   └── PortError                 a server of ours could not listen on its port
    │       ├── MetricsPortError      the Prometheus endpoint
    │       └── DashboardPortError    the live dashboard
    ├── ConnectionCutError            a connection the run cut on purpose (a fault)
    ├── FaultError                    a fault on the run's timeline could not be carried out
    ├── BrokerLaunchError             a local Mosquitto could not be found, started or stopped
    │   └── PkiError                  the throwaway certificate authority could not be made
    ├── PayloadError                  a payload could not be encoded or decoded
    │   └── TopicError                a Sparkplug B topic is malformed
    ├── SinkError                     a sink could not store a batch (``reason`` says why)
    ├── IngestChildError              an ingest worker process failed or said no final word
    ├── OpcuaProcessError             the OPC UA servers' own process failed to start or answer
    ├── ReportInputError              a report file given to ``compare`` is not a report
    ├── JUnitWriteError               the JUnit XML file could not be written
    ├── HarnessError                  the programmatic run (pytest plugin) was misused
    └── ReportKeyError                a report has no such key (also a KeyError, AttributeError)

Nothing here imports anything else from the package; ``tests/unit/test_errors.py`` checks that
no other module defines an exception class. :func:`exit_reason` words how a child process
ended, for the errors and reports that say it.
"""

from __future__ import annotations

import errno
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from pathlib import Path


class SimulatorError(Exception):
    """Root of every error the simulator raises on purpose."""


class InvalidArgumentError(SimulatorError, ValueError):
    """A value given to one of our functions is out of its range; the message says the range.

    Not a protocol error: nothing was sent. A ``ValueError`` too, as Python's own are.
    """


class ProtocolError(SimulatorError):
    """Something went wrong at the MQTT protocol level."""


class LocalProtocolError(ProtocolError):
    """We tried to send something MQTT (or Sparkplug B) does not allow (our fault)."""


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


class ConnectionCutError(SimulatorError):
    """A connection the run cut on purpose (a ``drop_connections`` fault): why it dropped."""


class FaultError(SimulatorError):
    """A fault on the run's timeline could not be carried out (e.g. a restart command failed)."""


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


class InflightLimitError(LocalProtocolError):
    """A QoS 1 or 2 publish would exceed the broker's receive maximum; wait for an ack."""


class PacketTooLargeError(LocalProtocolError):
    """A packet would exceed the broker's Maximum Packet Size, so it was not sent."""


class PortError(ResourceLimitError):
    """A server of ours could not listen on its host and port."""

    serves = "a server"
    """What the server serves, as the message says it."""

    def __init__(self, host: str, port: int, reason: str) -> None:
        super().__init__(f"cannot serve {self.serves} on {host}:{port}: {reason}")
        self.host = host
        self.port = port

    @classmethod
    def from_os_error(cls, host: str, port: int, exc: OSError) -> Self:
        """The error for ``exc``, which listening on ``host``:``port`` raised."""
        if exc.errno == errno.EADDRINUSE:
            return cls(host, port, f"port {port} is already in use")
        return cls(host, port, exc.strerror or str(exc))


class MetricsPortError(PortError):
    """The ``/metrics`` server could not listen on its host and port."""

    serves = "metrics"


class ReportInputError(SimulatorError):
    """A report to compare could not be read or is not a report; the message names the file."""


class JUnitWriteError(SimulatorError):
    """The JUnit file could not be written."""


class HarnessError(SimulatorError):
    """The harness was asked for something it cannot do, such as a blocking run inside a loop."""


class ReportKeyError(SimulatorError, KeyError, AttributeError):
    """A report has no value at the path asked for.

    Both a :class:`KeyError` and an :class:`AttributeError`, so ``report["a.b"]``,
    ``report.a.b``, ``hasattr`` and ``getattr(report, name, default)`` behave as usual.
    """

    def __str__(self) -> str:
        # KeyError quotes its argument; the message here is a sentence, not a key.
        return str(self.args[0])


class PlanError(SimulatorError):
    """A plan was asked for with arguments no valid scenario produces (a bug in the caller)."""


class PkiError(BrokerLaunchError):
    """The test PKI could not be made: openssl is missing or failed, or a name is unusable."""


class IngestChildError(SimulatorError):
    """The ingest child process failed to start, or stopped without a final snapshot."""


class OpcuaProcessError(SimulatorError):
    """The OPC UA servers' own process (``[southbound.opcua] process = "own"``) failed to
    start, to listen or to answer; the message names why (its exit status, what it said)."""


class TlsConfigError(ConnectError):
    """A TLS file could not be read or does not fit (names the file and what is wrong)."""


class MissingClientFilesError(TlsConfigError):
    """Per-connection certificate or key files are missing (names the first and the count)."""

    def __init__(self, message: str, first: Path, missing: int) -> None:
        super().__init__(message)
        self.first = first
        """The first missing file, in connection order."""
        self.missing = missing
        """How many files are missing in all."""


class TlsError(ConnectError):
    """TLS with the broker failed, in the handshake or after (names the connection and why)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
        """OpenSSL's short reason, e.g. ``TLSV1_ALERT_UNKNOWN_CA``."""


class TlsCertificateError(TlsError):
    """The broker's certificate was rejected: an untrusted chain, another name, expired."""

    def __init__(self, message: str, reason: str, verify_message: str) -> None:
        super().__init__(message, reason)
        self.verify_message = verify_message
        """OpenSSL's verdict, e.g. ``Hostname mismatch, certificate is not valid for 'x'.``"""


class DashboardPortError(PortError):
    """The dashboard could not listen on its host and port."""

    serves = "the dashboard"


class FleetConfigError(SimulatorError):
    """A fleet setting is invalid; the message says what is allowed."""


class UnknownModelError(FleetConfigError):
    """No device model is registered under the requested name."""


class PlantLayoutError(FleetConfigError):
    """A plant layout was asked for with out-of-range sizes or an unusable id prefix."""


class TopicTemplateError(FleetConfigError):
    """A topic template cannot produce valid MQTT topic names."""


class TopicError(PayloadError):
    """A Sparkplug topic is malformed or a topic part is not a valid id."""


def exit_reason(status: int) -> str:
    """How a child process ended, from its return code: ``exited with status 1``, or for a
    negative one ``killed by signal 9 (SIGKILL)``."""
    if status >= 0:
        return f"exited with status {status}"
    try:
        name = f" ({signal.Signals(-status).name})"
    except ValueError:
        name = ""
    return f"killed by signal {-status}{name}"
