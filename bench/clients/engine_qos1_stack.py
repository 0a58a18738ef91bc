"""The engine stack at QoS 1: every message counts once the broker's PUBACK is back.

The workload of :mod:`clients.engine_stack` with ``fleet.qos = 1``: each device's session
numbers its messages and keeps each until its PUBACK, within one inflight window bounded by
the broker's Receive Maximum. The run waits for the last acknowledgement before it
disconnects; the acknowledged rate is acknowledgements / (last PUBACK - first publish).
"""

from __future__ import annotations

import uvloop

from simulator.scenario import Scenario

from .common import StackArgs, StackFigures, parse_args, prepare_process, report
from .engine_driver import run_engine
from .workload import bench_scenario

QOS = 1


def qos1_scenario(args: StackArgs) -> Scenario:
    """The benchmark scenario with the fleet publishing at QoS 1."""
    scenario = bench_scenario(args.host, args.port, args.devices, args.concurrency)
    # The scenario is frozen; 1 is one of the values its schema allows for fleet.qos.
    fleet = scenario.fleet.model_copy(update={"qos": QOS})
    return scenario.model_copy(update={"fleet": fleet})


async def run(args: StackArgs) -> StackFigures:
    """Connect, publish at QoS 1 until every message is acknowledged, and disconnect."""
    return await run_engine("engine-qos1", args, qos1_scenario(args))


def main() -> None:
    """Entry point: ``python -m clients.engine_qos1_stack --port P --devices N --messages M``."""
    args = parse_args(__doc__ or "engine QoS 1 stack")
    prepare_process()
    report(uvloop.run(run(args)))


if __name__ == "__main__":
    main()
