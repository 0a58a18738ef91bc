"""What a run tells a running ingest worker: one JSON object a line on its standard input.

``run`` writes the worker's :class:`~simulator.ingest.settings.WorkerSettings` as the first
line and keeps the pipe open; every later line is a :class:`Control`, read by a daemon thread
in the worker and applied on its loop. Today it carries one thing, the delay before each
batch's commit that a ``slow_sink`` fault puts in force and lifts (docs/DECISIONS.md, "A slow
sink told, not scheduled"). End of input changes nothing: the worker runs on until SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from simulator import instructions


@dataclass(frozen=True, slots=True)
class Control:
    """One instruction to a running worker."""

    commit_delay_s: float
    """Wait this long before each batch's commit from now on (0: no more)."""

    def to_line(self) -> str:
        """This instruction as one line of JSON, newline included."""
        return json.dumps({"commit_delay_s": self.commit_delay_s}) + "\n"

    @classmethod
    def from_line(cls, line: str) -> Control:
        """The instruction :meth:`to_line` wrote; ValueError naming what is wrong otherwise."""
        try:
            data = json.loads(line)
            delay = data["commit_delay_s"]
            if set(data) != {"commit_delay_s"}:
                raise ValueError(f"unknown keys {sorted(set(data) - {'commit_delay_s'})}")
        except (TypeError, KeyError, ValueError) as exc:
            raise ValueError(f"not a control line ({exc}): {line.strip()!r}") from None
        if not isinstance(delay, int | float) or isinstance(delay, bool) or not delay >= 0:
            raise ValueError(f"commit_delay_s must be a number >= 0, not {delay!r}")
        return cls(float(delay))


def follow(
    stream: TextIO,
    loop: asyncio.AbstractEventLoop,
    apply: Callable[[Control], None],
    refuse: Callable[[str], None],
) -> threading.Thread:
    """Hand each instruction on ``stream`` to ``apply`` on ``loop``, each line that is not one
    to ``refuse``, until end of input (:func:`simulator.instructions.follow`)."""
    return instructions.follow(
        stream, loop, Control.from_line, apply, refuse, name="ingest-control"
    )
