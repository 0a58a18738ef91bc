"""Read requests decoded once: a gateway asks for the same node lists every poll.

A polling gateway sends the same Read requests poll after poll: the same nodes, in the same
order, in the same batches. asyncua decodes every ``ReadValueId`` of every request in Python,
about 9-10 µs each (a string NodeId, the attribute, the index range, the data encoding), which
is a third or more of what serving one value costs the server. Its values are read afresh
every time; only the request's decoding is kept.

:func:`install` puts a decoder in front of the one asyncua's request processor uses: a Read
request's parameters are looked up by their bytes (the maximum age, the timestamps asked for
and every node to read, exactly as they came on the wire) in a bounded table, and decoded by
asyncua on a miss. Equal bytes decode to equal parameters, and the server only reads them, so
a request served from the table gets what a decoded one would. Every other request goes to
asyncua's decoder as before.

The hook is asyncua's module-level ``struct_from_binary`` in its request processor, which is
not a public API. Where asyncua no longer has it there, :func:`install` leaves asyncua as it
is and says so (False): the servers still serve every value, only slower. A test checks that
it installs, so an upgrade that moves the hook fails the suite instead of quietly serving
slower.
"""

from __future__ import annotations

from typing import Any, Final

from asyncua import ua
from asyncua.common.utils import Buffer
from asyncua.server import uaprocessor
from asyncua.ua import ua_binary

MAX_REQUESTS: Final = 64
"""Distinct Read requests kept (20,000 nodes polled in requests of 1,000 are 20); the oldest
goes first once the table is full. One of 1,000 nodes keeps about 0.3 MB."""

_decode = ua_binary.struct_from_binary


class ReadRequests:
    """The table of decoded Read parameters, with its counts."""

    __slots__ = ("decoded", "hits", "table")

    def __init__(self) -> None:
        self.table: dict[bytes, ua.ReadParameters] = {}
        self.hits = 0
        """Requests served from the table."""
        self.decoded = 0
        """Requests decoded by asyncua (and kept)."""

    def parameters(self, data: Buffer) -> ua.ReadParameters:
        """The parameters of the Read request in the rest of ``data``, which is consumed."""
        key = bytes(data)
        found = self.table.get(key)
        if found is not None:
            data.skip(len(key))
            self.hits += 1
            return found
        params: ua.ReadParameters = _decode(ua.ReadParameters, data)
        table = self.table
        if len(table) >= MAX_REQUESTS:
            del table[next(iter(table))]
        table[key] = params
        self.decoded += 1
        return params


READS = ReadRequests()
"""The process's one table (asyncua's processor decodes through one module function)."""


def _struct_from_binary(objtype: Any, data: Any) -> Any:
    if objtype is ua.ReadParameters and type(data) is Buffer:
        return READS.parameters(data)
    return _decode(objtype, data)


def install() -> bool:
    """Decode the Read requests of every server in this process through :data:`READS`
    (harmless twice); False where asyncua's processor no longer decodes through the function
    this replaces, which is then left alone."""
    current = getattr(uaprocessor, "struct_from_binary", None)
    if current is _struct_from_binary:
        return True
    if current is not _decode:
        return False
    uaprocessor.struct_from_binary = _struct_from_binary
    return True
