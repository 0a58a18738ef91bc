"""A real fleet for integration tests: the scenario's devices against a real broker."""

from __future__ import annotations

import asyncio
import time

from simulator.engine.fleet import Fleet, FleetOptions
from simulator.scenario import Scenario, parse_broker_url
from simulator.transport.endpoint import Endpoint


def live_fleet(scenario: Scenario, options: FleetOptions | None = None) -> Fleet:
    """``scenario``'s fleet against the broker its ``broker.url`` names, on the running loop
    and the wall clock (not built yet: a test may look at it first)."""
    assert scenario.broker.url is not None, "a live fleet connects where broker.url says"
    address = parse_broker_url(scenario.broker.url)
    return Fleet(
        scenario,
        Endpoint(address.host, address.port),
        loop=asyncio.get_running_loop(),
        wall_ns=time.time_ns,
        options=options or FleetOptions(),
    )
