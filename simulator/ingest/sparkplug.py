"""Sparkplug B traffic at ingest: which messages are telemetry, and counts of the rest.

Edge nodes publish on ``spBv1.0/<group>/<type>/<edge>[/<device>]``. Data messages (DDATA, and
NDATA from a device that is its own edge node) are telemetry: they carry the device id, its own
sequence number and send time (:mod:`simulator.payloads.sparkplug.slotted_node`), so they are
accounted like any message. Births, deaths and commands are not telemetry and not malformed:
they are counted by type, so a report can tell how often nodes were born and died (a
reconnect is an NDEATH from the broker, then an NBIRTH and a DBIRTH per device). They are not
accounted per device: a shared subscription hands each message to one worker of several, so no
worker can expect to see every birth.
"""

from __future__ import annotations

from collections.abc import Callable

from simulator.errors import PayloadError
from simulator.payloads.codec import Telemetry
from simulator.payloads.sparkplug.slotted_node import decode_data
from simulator.payloads.sparkplug.topics import NAMESPACE

_DATA = frozenset(("DDATA", "NDATA"))
_COUNTED = ("NBIRTH", "DBIRTH", "NDEATH", "DDEATH", "NCMD", "DCMD", "STATE")


def _unknown_type(data: bytes) -> Telemetry:
    raise PayloadError("not a Sparkplug B message type")


class SparkplugTraffic:
    """Tells a Sparkplug topic's data messages from the rest, and counts the rest."""

    __slots__ = ("counts", "filter", "prefix", "probe")

    def __init__(self, group_id: str) -> None:
        """Subscribe to the edge nodes of ``group_id``; recognise any Sparkplug topic."""
        self.prefix = f"{NAMESPACE}/"
        """Topics starting with this are Sparkplug's."""
        self.filter = f"{NAMESPACE}/{group_id}/#"
        """The subscription covering the group."""
        self.probe = f"{NAMESPACE}/{group_id}/NDATA/edge"
        """A topic of the group, to tell whether another filter covers it already."""
        self.counts = dict.fromkeys(_COUNTED, 0)
        """Messages by type that are not telemetry."""

    def decoder(self, topic: str) -> Callable[[bytes], Telemetry] | None:
        """How to decode a message on ``topic``; None (and counted) if it is not telemetry."""
        parts = topic.split("/", 3)
        kind = "STATE" if parts[1:2] == ["STATE"] else parts[2] if len(parts) > 2 else ""
        if kind in _DATA:
            return decode_data
        if kind in self.counts:
            self.counts[kind] += 1
            return None
        return _unknown_type

    def snapshot(self) -> dict[str, int]:
        """The counts, JSON-ready."""
        return dict(self.counts)
