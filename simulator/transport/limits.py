"""Operating-system limits a large fleet runs into: open files and ephemeral ports.

Each device connection costs this process one file descriptor, and a local Mosquitto one more.
A run that cannot fit is refused before its first connection, with the numbers and what to do,
instead of failing at device 19,981 with ``EMFILE``.
"""

from __future__ import annotations

import ipaddress
import math
import resource

from simulator.errors import ResourceLimitError

DESCRIPTOR_MARGIN = 64
"""Descriptors kept for everything that is not a device: stdio, logs, sinks, the ingest link."""

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
            f"(and, for a local Mosquitto, as many brokers), or raise the hard limit "
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
