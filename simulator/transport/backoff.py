"""Reconnect backoff: exponential, capped, jittered, deterministic from the seed.

One function for every connection that comes back: the fleet's
(:mod:`simulator.engine.reconnects`) and the long-lived subscribers' (:mod:`.subscriber`).
After a broker restart every device notices at once; reconnecting them all on the same
schedule would be a synchronized storm that knocks the broker over again. Each connection
waits ``min_s * 2**attempt`` (capped at ``max_s``), scaled by a jitter in ``[0.5, 1.0)``
drawn from the fleet's seed, the connection and the attempt, so a run is repeatable and
connections spread out. Pure: no clock, no random state.
"""

from __future__ import annotations

from simulator.fleet.noise import unit


def backoff_s(attempt: int, connection: int, seed: int, *, min_s: float, max_s: float) -> float:
    """Seconds to wait before reconnect ``attempt`` (0 for the first) of ``connection``."""
    delay = min(max_s, min_s * (2 ** min(attempt, 62)))
    return float(delay * (0.5 + 0.5 * unit(seed, connection, attempt)))
