"""What the TLS stacks share: their extra command line, topics and the client TLS context.

The TLS stacks run against the secure broker profile (:class:`simulator.broker.SecureBroker`):
a TLS listener that wants a user name and password, and an ACL that lets the shared load-fleet
user (:data:`simulator.broker.FLEET_USER`) write only under ``factory/``. So their devices
publish on ``factory/{site}/{line}/{device}/telemetry`` instead of the plain stacks' ``bench/``
topics, and every device connects as that one user.

``bench/run.py`` passes ``--ca-file``, ``--username`` and ``--password`` (and, for the engine's
variants, ``--no-ticket`` for a context without TLS session tickets and ``--tls-layer`` for who
does TLS) before the common stack options; this module takes them off the command line and
leaves the rest to :func:`clients.common.parse_args`.
"""

from __future__ import annotations

import argparse
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

from simulator.scenario import Scenario
from simulator.transport.credentials import Credentials
from simulator.transport.tls import TlsOptions, client_context
from simulator.transport.tls_link import TlsLayer

from .common import StackArgs, parse_args
from .workload import bench_scenario

TLS_TOPIC_TEMPLATE = "factory/{site}/{line}/{device}/telemetry"
"""Under ``factory/``, where the secure profile's ACL lets the fleet user write."""

TLS_TOPIC_FILTER = "factory/#"

TLS_PROBE_TOPIC = "factory/_probe"
"""The counting subscriber's readiness probe: under ``factory/`` too, or the ACL drops it."""


@dataclass(frozen=True, slots=True)
class SecureArgs:
    """How a TLS stack reaches the secure broker: the CA to trust and the account to use."""

    ca_file: Path
    username: str
    password: str
    no_ticket: bool
    """Set ``ssl.OP_NO_TICKET`` on the client context (see :func:`tls_context`)."""
    tls_layer: TlsLayer = "resume"
    """The engine's TLS: its own layer with or without session resumption, or the event
    loop's (see :mod:`simulator.transport.tls_link`); gmqtt always uses the event loop's."""
    tls12: bool = False
    """Cap the context at TLS 1.2 (its resumption needs no key exchange)."""
    copy_session: bool = False
    """Offer the session through CPython's setter, which copies it (see
    :mod:`simulator.transport.tls_session`)."""

    def credentials(self) -> Credentials:
        """The engine's form of the account: every device the same user name and password."""
        return Credentials(self.username, self.password)


def parse_secure_args(description: str) -> tuple[StackArgs, SecureArgs]:
    """Parse a TLS stack's command line: the TLS options here, the rest as every stack's."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--ca-file", type=Path, required=True)
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--no-ticket", action="store_true")
    parser.add_argument("--tls-layer", choices=get_args(TlsLayer), default="resume")
    parser.add_argument("--tls12", action="store_true")
    parser.add_argument("--copy-session", action="store_true")
    ns, rest = parser.parse_known_args(sys.argv[1:])
    return parse_args(description, rest), SecureArgs(
        ns.ca_file,
        ns.username,
        ns.password,
        ns.no_ticket,
        ns.tls_layer,
        ns.tls12,
        ns.copy_session,
    )


def tls_context(secure: SecureArgs) -> ssl.SSLContext:
    """The one client context every connection of a stack shares, as the engine builds it.

    ``no_ticket`` sets ``ssl.OP_NO_TICKET``. Over TLS 1.2 the client then asks for no session
    ticket; OpenSSL documents no client-side effect over TLS 1.3, and the measured memory and
    connect rate did not change (docs/PERFORMANCE.md, "QoS 1 and TLS"). ``tls12`` caps the
    version at TLS 1.2.
    """
    context = client_context(TlsOptions(ca_file=secure.ca_file))
    if secure.no_ticket:
        context.options |= ssl.OP_NO_TICKET
    if secure.tls12:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    return context


def tls_scenario(args: StackArgs) -> Scenario:
    """The benchmark scenario with the devices' topics moved under ``factory/``."""
    scenario = bench_scenario(args.host, args.port, args.devices, args.concurrency)
    # The scenario is frozen; the template is validated again when the devices render it.
    fleet = scenario.fleet.model_copy(update={"topic": TLS_TOPIC_TEMPLATE})
    return scenario.model_copy(update={"fleet": fleet})
