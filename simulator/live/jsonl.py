"""The view of a worker process: its fleet's progress as one JSON line per interval.

``run --jsonl`` (how ``run --workers N`` starts its slices) shows nothing to a person: it
prints ``{"progress": ...}`` (a :class:`~simulator.metrics.progress.FleetProgress`) on standard
output once per interval, for the coordinator's one live view, and says its messages as
``{"say": ...}`` lines.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from simulator.metrics.progress import FleetProgress
from simulator.metrics.timeseries import Totals


class JsonLinesView:
    """One JSON line per interval, and per message, on ``stream``."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def _line(self, data: dict[str, Any]) -> None:
        self._stream.write(json.dumps(data, separators=(",", ":")) + "\n")
        self._stream.flush()

    def say(self, text: str) -> None:
        """Pass a message on, for the coordinator to say with the worker's label."""
        self._line({"say": text})

    def update(self, sample: dict[str, Any], totals: Totals) -> None:
        """Print the fleet's progress."""
        self._line({"progress": FleetProgress.of(totals).to_dict()})

    def ready(self) -> None:
        """Say the worker has built its fleet and waits for the start time on its stdin."""
        self._line({"ready": True})

    def close(self) -> None:
        """Nothing to tear down."""
