"""Waiting on a condition, bounded: how tests synchronise with a run instead of sleeping.

A condition is polled every few milliseconds until it holds or the deadline passes; the bound
is generous (a loaded CI machine is slow, not wrong) and the failure says what was awaited.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

POLL_S = 0.01
DEFAULT_TIMEOUT_S = 30.0


async def wait_until(
    condition: Callable[[], bool], what: str, timeout_s: float = DEFAULT_TIMEOUT_S
) -> None:
    """Return once ``condition()`` holds; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s:g} s waiting for {what}"
        await asyncio.sleep(POLL_S)


def wait_until_sync(
    condition: Callable[[], bool], what: str, timeout_s: float = DEFAULT_TIMEOUT_S
) -> None:
    """:func:`wait_until` for a thread without an event loop."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s:g} s waiting for {what}"
        time.sleep(POLL_S)
