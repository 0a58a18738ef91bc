"""A ``[[fleet.mix]]`` entry as the composition reads it, for tests that compose fleets."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Entry:
    model: str
    share: float | None = None
    count: int | None = None
    publish_interval_s: float | None = None
    payload: str | None = None
    devices_per_connection: int | None = None
