"""Drift-free periodic ticks, for the loops that report once an interval.

The n-th tick is due at ``start + n * interval_s`` on the running loop's clock, however long
the work after the previous one took: a late tick is followed by an early one, and the ticks
never drift from the schedule (emqtt-bench's rule, as the engine's wheels keep it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator


async def every(interval_s: float) -> AsyncGenerator[int, None]:
    """Yield 1, 2, 3, ... as each tick falls due, counted from the first call; until the
    caller stops iterating or is cancelled."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    n = 0
    while True:
        n += 1
        await asyncio.sleep(max(0.0, start + n * interval_s - loop.time()))
        yield n
