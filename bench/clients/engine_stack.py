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

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from typing import Any

import uvloop

from simulator.engine.fleet import Fleet
from simulator.scenario import OnboardingPlan, Scenario

from .common import StackArgs, StackFigures, parse_args, prepare_process, report, say
from .workload import bench_scenario


async def publish_with_engine(
    args: StackArgs,
    figures: StackFigures,
    scenario: Scenario,
    watch: Callable[[Fleet], Coroutine[Any, Any, None]] | None = None,
) -> None:
    """Onboard ``scenario``'s fleet, wait until every connected device sent its messages, and
    disconnect; fill ``figures``. ``watch``, if given, runs beside the fleet until the end."""
    loop = asyncio.get_running_loop()
    fleet = Fleet(
        scenario,
        args.host,
        args.port,
        loop=loop,
        wall_ns=time.time_ns,
        messages_per_device=args.messages,
    )
    figures.mark_baseline()
    fleet.build()
    watcher = asyncio.create_task(watch(fleet)) if watch is not None else None
    plan = OnboardingPlan(scenario.fleet.devices, scenario.onboarding.rate_per_s)

    say(f"engine: onboarding {scenario.fleet.devices:,} devices")
    try:
        async with asyncio.timeout(args.phase_timeout_s):
            stats = await fleet.onboard(plan, publish_while_onboarding=False)
        figures.connected = stats.connected
        figures.failed = stats.failed
        figures.failures = dict(stats.failures)
        if stats.first_start is not None and stats.last_connected is not None:
            figures.connect_s = stats.last_connected - stats.first_start
        figures.mark_connected()

        say(f"engine: publishing {stats.connected * args.messages:,} messages")
        start = loop.time()
        figures.publish_start_wall_ns = time.time_ns()
        fleet.start_publishing()
        async with asyncio.timeout(args.phase_timeout_s):
            await fleet.wait_finished()
        figures.publish_s = loop.time() - start
        figures.publish_end_wall_ns = time.time_ns()
    except TimeoutError:
        figures.notes.append(
            f"engine: a phase did not finish within {args.phase_timeout_s:g} s "
            f"(connected {fleet.connected:,}, published {fleet.counters.published:,})"
        )
    finally:
        figures.sent = fleet.counters.published
        figures.extra["overrun"] = fleet.overrun
        figures.extra["dropped_links"] = fleet.counters.dropped_links
        fleet.stop_publishing()
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        say("engine: disconnecting")
        await fleet.disconnect_all()


async def run(args: StackArgs) -> StackFigures:
    """Connect, publish and disconnect every device; return the figures."""
    figures = StackFigures("engine", args.devices, args.messages)
    scenario = bench_scenario(args.host, args.port, args.devices, args.concurrency)
    await publish_with_engine(args, figures, scenario)
    return figures


def main() -> None:
    """Entry point: ``python -m clients.engine_stack --port P --devices N --messages M``."""
    args = parse_args(__doc__ or "engine stack")
    prepare_process()
    report(uvloop.run(run(args)))


if __name__ == "__main__":
    main()
