"""A real fleet for integration tests: the scenario's devices against a real broker."""

from __future__ import annotations

import asyncio
import time

from simulator.engine.fleet import Fleet, FleetOptions
from simulator.scenario import Scenario
from simulator.transport.endpoint import Endpoint


def live_fleet(
    scenario: Scenario, host: str, port: int, options: FleetOptions | None = None
) -> Fleet:
    """``scenario``'s fleet against the broker at ``host:port``, on the running loop and the
    wall clock (not built yet: a test may look at it first)."""
    return Fleet(
        scenario,
        Endpoint(host, port),
        loop=asyncio.get_running_loop(),
        wall_ns=time.time_ns,
        options=options or FleetOptions(),
    )
