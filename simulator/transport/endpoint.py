"""Where and how a fleet's connections reach the broker, as one value.

The broker's address (or a pool's), the local addresses connections are spread over, TLS (a
context source and which layer runs it) and the credentials template belong together: they are
resolved once by whoever starts a fleet (the runner from the scenario and command line, a test
or benchmark from its own broker) and read by the fleet only to build its connector and
sessions.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.transport.credentials import Credentials
from simulator.transport.dealing import Dealing
from simulator.transport.tls import ContextSource
from simulator.transport.tls_link import TlsLayer


@dataclass(frozen=True, slots=True)
class Endpoint:
    """The broker a fleet connects to, and how each of its connections gets there."""

    host: str
    port: int
    source_addresses: tuple[str | None, ...] = (None,)
    """Local addresses the connections take in turn (None: the system's choice), so a fleet
    beyond one address's ephemeral ports can still connect (see :mod:`.limits`)."""
    tls: ContextSource | None = None
    """One client context for every connection, or a function from a client id to its own
    context (see :mod:`.tls`); None connects over plain TCP."""
    tls_layer: TlsLayer = "resume"
    """Which TLS layer runs the handshakes (see :mod:`.tls_link`)."""
    credentials: Credentials | None = None
    """The user name and password template every connection presents (None: anonymous)."""
    more_brokers: tuple[tuple[str, int], ...] = ()
    """Further brokers of a pool or cluster, as ``(host, port)``: the fleet's connections are
    dealt over ``host:port`` and these (see :mod:`.dealing`)."""
    tls_names: tuple[str, ...] = ()
    """The name each broker's certificate is checked against, in the brokers' order (empty:
    the host connected to). A run that relays its fleet (:mod:`.relay`) connects to the
    relay's address and checks the broker's own name."""

    @property
    def dealing(self) -> Dealing:
        """Which broker and which source address each connection takes."""
        return Dealing(((self.host, self.port), *self.more_brokers), self.source_addresses)
