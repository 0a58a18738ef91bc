"""Operating-system limits a large fleet runs into: open files, ephemeral ports, memory.

Each device connection costs this process one file descriptor, and a local Mosquitto one more;
it takes an ephemeral port of its (source, destination) pair, and memory in this process, in
the broker and in the kernel. A run that cannot fit is refused before its first connection
(:func:`preflight`, every problem at once, with the numbers and what to do) instead of failing
at device 19,981 with ``EMFILE`` or at 28,232 with ``EADDRNOTAVAIL``.

:func:`preflight` is arithmetic over a :class:`Demand` and a :class:`Machine`;
:func:`this_machine` reads the machine's figures, :func:`check_source_addresses` binds each
source address once.
"""

from __future__ import annotations

import ipaddress
import math
import resource
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from simulator.errors import ResourceLimitError
from simulator.transport.dealing import per_broker, per_pair

DESCRIPTOR_MARGIN = 64
"""Descriptors kept for everything that is not a device: stdio, logs, sinks, the ingest link."""

PORT_MARGIN = 1_000
"""Ephemeral ports of a (source, destination) pair kept for everything else on the machine."""

SIMULATOR_BYTES_PER_CONNECTION = 3_000
"""This process's RSS per direct connection: 2.1-2.6 KB measured (docs/PERFORMANCE.md), and
some room."""

TLS_BYTES_PER_CONNECTION = 40_000
"""What TLS adds per connection here: about 38 KB of OpenSSL and Python state measured."""

BROKER_BYTES_PER_CONNECTION = 1_500
"""A local Mosquitto's RSS per client publishing every 10 s: about 0.72 KB measured
(docs/PERFORMANCE.md, "100,000 direct connections"), and room."""

KERNEL_BYTES_PER_SOCKET = 6_000
"""The kernel's memory per TCP socket without queued data (socket, inode, file, epoll entry):
5.0-5.5 KB of slab measured; a local broker's end counts as a second socket."""

MEMORY_SHARE = 0.8
"""The share of MemAvailable a plan may count on: the rest is for queues, sinks and peaks."""

_PORT_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_MEMINFO = Path("/proc/meminfo")
_LINUX_PORT_RANGE = (32_768, 60_999)

PORTS_PER_SOURCE_ADDRESS = 25_000
"""Connections placed on one source address towards one broker address.

Linux offers about 28,000 ephemeral ports per (source, destination) pair; staying below
leaves room for the ingest worker and anything else on the box.
"""


def raise_open_files_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit and return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1_048_576)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def check_descriptors(
    connections: int, available: int, *, who: str = "this simulator process"
) -> None:
    """Refuse a run whose ``connections`` (plus a margin) exceed ``available`` descriptors."""
    needed = connections + DESCRIPTOR_MARGIN
    if needed > available:
        fit = max(0, available - DESCRIPTOR_MARGIN)
        processes = math.ceil(connections / fit) if fit else connections
        raise ResourceLimitError(
            f"{who} needs {needed:,} open files ({connections:,} connections + "
            f"{DESCRIPTOR_MARGIN} spare) but may hold only {available:,}. Run at most {fit:,} "
            f"devices per process: split the fleet over {processes} simulator processes "
            f"('run --workers auto' does it on one machine; local Mosquittos over [broker] "
            f"instances), or raise the hard limit "
            f"(ulimit -Hn) where the system allows it."
        )


def source_addresses(broker_host: str, connections: int) -> tuple[str | None, ...]:
    """Source addresses to spread ``connections`` over, so no address runs out of ports.

    For a loopback broker every 127.0.0.0/8 address is ours to use, so large fleets get one
    source address per :data:`PORTS_PER_SOURCE_ADDRESS` connections. Elsewhere, and for fleets
    that fit on one address, ``(None,)`` lets the kernel choose.
    """
    if connections <= PORTS_PER_SOURCE_ADDRESS:
        return (None,)
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    try:
        address = ipaddress.ip_address("127.0.0.1" if broker_host == "localhost" else broker_host)
    except ValueError:
        address = None
    if address is None or not address.is_loopback or address.version != 4:
        return (None,)
    count = math.ceil(connections / PORTS_PER_SOURCE_ADDRESS)
    return tuple(f"127.0.{1 + n // 250}.{1 + n % 250}" for n in range(count))


@dataclass(frozen=True, slots=True)
class Demand:
    """What a run asks of this machine."""

    connections: int
    """The fleet's connections this process opens."""
    brokers: int = 1
    """Brokers they are dealt over."""
    sources: int = 1
    """Source addresses they are dealt over (the system's choice counts as one)."""
    platform_per_broker: int = 0
    """Our own connections to each broker besides the fleet's (ingest workers, responder)."""
    local_brokers: bool = False
    """The brokers are Mosquitto processes on this machine (their files, memory and the
    kernel's second socket of each connection count too)."""
    tls: bool = False


@dataclass(frozen=True, slots=True)
class Machine:
    """The limits of this machine and process that a plan must fit."""

    open_files: int
    """This process's RLIMIT_NOFILE (raised to the hard limit)."""
    broker_open_files: int
    """Clients one local Mosquitto can hold (its open-files limit less its own)."""
    ephemeral_ports: int
    """Ports of ``ip_local_port_range``: what one (source, destination) pair may use."""
    mem_available: int | None
    """MemAvailable in bytes (None: unknown, not checked)."""


def this_machine(broker_open_files: int) -> Machine:
    """This process's and machine's figures (the open-files limit raised first)."""
    return Machine(
        raise_open_files_limit(), broker_open_files, ephemeral_ports(), mem_available_bytes()
    )


def ephemeral_ports() -> int:
    """How many ports ``ip_local_port_range`` offers (Linux's default range if unreadable)."""
    try:
        low, high = (int(part) for part in _PORT_RANGE.read_text().split())
    except (OSError, ValueError):
        low, high = _LINUX_PORT_RANGE
    return high - low + 1


def mem_available_bytes() -> int | None:
    """The kernel's MemAvailable, in bytes (None where there is no /proc/meminfo)."""
    try:
        for line in _MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def memory_needed(demand: Demand) -> int:
    """Bytes a plan's connections take: in this process, the brokers and the kernel."""
    per = SIMULATOR_BYTES_PER_CONNECTION + KERNEL_BYTES_PER_SOCKET
    if demand.tls:
        per += TLS_BYTES_PER_CONNECTION
    if demand.local_brokers:
        per += BROKER_BYTES_PER_CONNECTION + KERNEL_BYTES_PER_SOCKET
    return demand.connections * per


def preflight(demand: Demand, machine: Machine) -> None:
    """Refuse a plan that cannot fit this machine, naming every limit it passes at once.

    Raises:
        ResourceLimitError: one line per limit, with the numbers and what to do.
    """
    problems = list(_problems(demand, machine))
    if problems:
        raise ResourceLimitError("the run cannot fit this machine:\n  " + "\n  ".join(problems))


def _problems(demand: Demand, machine: Machine) -> Iterable[str]:
    brokers = demand.brokers
    sources = demand.sources
    try:
        check_descriptors(demand.connections, machine.open_files)
    except ResourceLimitError as exc:
        yield str(exc)
    if demand.local_brokers:
        each = per_broker(demand.connections, brokers) + demand.platform_per_broker
        if each > machine.broker_open_files:
            need = math.ceil(
                demand.connections / max(1, machine.broker_open_files - demand.platform_per_broker)
            )
            yield (
                f"each local Mosquitto can hold about {machine.broker_open_files:,} "
                f"connections (its open-files limit), but {brokers} would get up to "
                f"{each:,} each. Start more: [broker] instances = {need} or more, or "
                f"put devices behind gateways (fleet.devices_per_connection)."
            )
    shared = per_pair(demand.connections, brokers, sources) + demand.platform_per_broker
    usable = machine.ephemeral_ports - PORT_MARGIN
    if shared > usable:
        pairs = math.ceil(demand.connections / max(1, usable - demand.platform_per_broker))
        more = math.ceil(pairs / brokers)
        yield (
            f"{shared:,} connections would share one (source, broker) address pair, which "
            f"offers {machine.ephemeral_ports:,} ephemeral ports (ip_local_port_range; "
            f"{PORT_MARGIN:,} kept spare): {brokers} broker(s) x {sources} source "
            f"address(es) is too few. Give [onboarding] source_addresses at least {more} "
            f"local addresses (e.g. a range of 127.0.0.x for a local broker)."
        )
    available = machine.mem_available
    needed = memory_needed(demand)
    if available is not None and needed > available * MEMORY_SHARE:
        yield (
            f"{demand.connections:,} connections need about {needed / 2**30:,.1f} GiB "
            f"(this process, {'the local brokers, ' if demand.local_brokers else ''}the "
            f"kernel's sockets), more than {MEMORY_SHARE:.0%} of the "
            f"{available / 2**30:,.1f} GiB available. Use fewer connections per machine."
        )


def check_source_addresses(addresses: Iterable[str | None]) -> None:
    """Bind each source address once, so one that is not this machine's is refused up front.

    Raises:
        ResourceLimitError: naming ``[onboarding] source_addresses`` and every address that
            cannot be bound, with the system's reason.
    """
    bad: list[str] = []
    for address in addresses:
        if address is None:
            continue
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((address, 0))
            except OSError as exc:
                bad.append(f"{address} ({exc.strerror or exc})")
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5:,} more" if len(bad) > 5 else "")
        raise ResourceLimitError(
            f"[onboarding] source_addresses: not addresses of this machine: {shown}. "
            f"Add them to an interface (e.g. ip addr add ADDRESS/32 dev lo) or leave them out."
        )
