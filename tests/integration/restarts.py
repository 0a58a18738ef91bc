"""A whole run through a broker restart: the one way the restart tests stop and start Mosquitto."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import Callable
from typing import Any

from simulator.broker import LocalBroker
from simulator.runner import Runner
from simulator.scenario import Scenario


def run_through_restart(
    scenario: Scenario,
    new_broker: Callable[[], LocalBroker],
    *,
    after_s: float = 2.0,
    down_s: float = 0.5,
) -> dict[str, Any]:
    """Run ``scenario``; ``after_s`` in, stop its broker (SIGTERM) and start a fresh one.

    ``new_broker`` makes a broker on the scenario's port (with whatever persistence the test
    wants); it is called once before the run and once for the restart. Returns the report.
    """
    holder = [new_broker()]
    holder[0].start()

    def restart() -> None:
        time.sleep(after_s)
        holder[0].stop()
        time.sleep(down_s)
        holder[0] = new_broker()
        holder[0].start()

    thread = threading.Thread(target=restart)
    thread.start()
    try:
        return asyncio.run(Runner(scenario, scenario_path="<test>", out=io.StringIO()).run())
    finally:
        thread.join()
        holder[0].stop()
