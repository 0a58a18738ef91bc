"""The engine stack: this project's :class:`~simulator.engine.fleet.Fleet`, on uvloop.

It is driven the way the runner drives it: build the devices (after the baseline memory
reading), onboard them on an :class:`~simulator.scenario.OnboardingPlan` with the connector's
bounded pool, and let the one scheduler publish. ``messages_per_device`` makes every device
stop after exactly ``messages`` messages, and the 10 ms interval turns them into a burst.

As for the other stacks, onboarding and publishing are measured apart: the fleet onboards with
``publish_while_onboarding=False`` and starts its scheduler once every device is connected (a
scenario run publishes from each device's CONNACK on instead, as a plant coming online does).
"""

from __future__ import annotations

import uvloop

from .common import StackArgs, StackFigures, parse_args, prepare_process, report
from .engine_driver import run_engine
from .workload import bench_scenario


async def run(args: StackArgs) -> StackFigures:
    """Connect, publish and disconnect every device; return the figures."""
    scenario = bench_scenario(args.host, args.port, args.devices, args.concurrency)
    return await run_engine("engine", args, scenario)


def main() -> None:
    """Entry point: ``python -m clients.engine_stack --port P --devices N --messages M``."""
    args = parse_args(__doc__ or "engine stack")
    prepare_process()
    report(uvloop.run(run(args)))


if __name__ == "__main__":
    main()
