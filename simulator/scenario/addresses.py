"""Pools of local source addresses: ``["127.0.0.2-127.0.0.40", "10.0.0.7"]`` as addresses.

``[onboarding] source_addresses`` lists single addresses and inclusive ranges ``FIRST-LAST``
(both ends of one family, FIRST not after LAST), IPv4 or IPv6. The pool is the entries
expanded in the order written; an address given twice is an error, since it would silently
weigh one address double in the dealing (see :mod:`simulator.transport.dealing`).

Pure: whether an address is really one of this machine's is checked by the runner's
preflight, which binds each (:func:`simulator.transport.limits.check_source_addresses`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

MAX_POOL = 65_536
"""The most addresses one pool may expand to: 65,536 addresses of about 28,000 ports each
are far more than any fleet needs, and a typo such as ``10.0.0.1-10.9.0.1`` is caught."""

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address_pool(entries: Sequence[str]) -> tuple[str, ...]:
    """The addresses of ``entries``, ranges expanded, in order.

    Raises:
        ValueError: naming the first bad entry and what is allowed.
    """
    pool: list[str] = []
    seen: set[_Address] = set()
    for entry in entries:
        for address in _expand(entry, MAX_POOL - len(pool)):
            if address in seen:
                raise ValueError(f"{str(address)!r} appears twice (in {entry!r})")
            seen.add(address)
            pool.append(str(address))
    if not pool:
        raise ValueError("must name at least one address, e.g. ['127.0.0.2-127.0.0.40']")
    return tuple(pool)


def _expand(entry: str, room: int) -> list[_Address]:
    """The addresses of one entry; ``room`` is how many the pool may still take."""
    first_text, dash, last_text = entry.partition("-")
    first = _address(first_text, entry)
    if not dash:
        return [first]
    last = _address(last_text, entry)
    if first.version != last.version:
        raise ValueError(f"both ends of a range must be IPv4 or both IPv6, got {entry!r}")
    size = int(last) - int(first) + 1
    if size < 1:
        raise ValueError(f"a range runs from its lower address to its higher, got {entry!r}")
    if size > room:
        raise ValueError(f"{entry!r} holds {size:,} addresses; a pool may hold {MAX_POOL:,}")
    return [first + n for n in range(size)]


def _address(text: str, entry: str) -> _Address:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        raise ValueError(
            f"expected an IP address or a range FIRST-LAST such as '127.0.0.2-127.0.0.40', "
            f"got {entry!r}"
        ) from None
