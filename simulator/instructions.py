"""Instructions a parent writes to a running child process, one line each on its standard
input, read on a daemon thread and applied on the child's loop.

A run's ingest worker takes its commit delay this way (:mod:`simulator.ingest.control`), a
worker of ``run --workers --web`` its coordinator's live control requests
(:mod:`simulator.coordinator.control`). The read blocks, so it has a thread of its own, a
daemon one, which must not hold up the loop's shutdown; each line is parsed there and handed
to the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any, TextIO, TypeVar

T = TypeVar("T")


def follow(
    stream: TextIO,
    loop: asyncio.AbstractEventLoop,
    parse: Callable[[str], T],
    apply: Callable[[T], None],
    refuse: Callable[[str], None],
    *,
    name: str,
) -> threading.Thread:
    """Read ``stream`` line by line on a daemon thread called ``name``, until end of input:
    each line ``parse`` reads is handed to ``apply`` on ``loop``; for each it refuses with a
    ValueError, its message to ``refuse``. Blank lines are passed over."""

    def read() -> None:
        for line in stream:
            if not line.strip():
                continue
            try:
                instruction = parse(line)
            except ValueError as exc:
                _call(loop, refuse, str(exc))
                continue
            _call(loop, apply, instruction)

    thread = threading.Thread(target=read, name=name, daemon=True)
    thread.start()
    return thread


def _call(loop: asyncio.AbstractEventLoop, function: Callable[[Any], None], value: object) -> None:
    with contextlib.suppress(RuntimeError):  # the loop closed: the child is stopping
        loop.call_soon_threadsafe(function, value)
