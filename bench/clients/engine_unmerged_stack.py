"""The engine stack with catch-up merging off: one write per message however far behind.

Everything is as in :mod:`clients.engine_stack`, except that the fleet is built with
``merge_overdue=False``, so a device that has fallen behind sends its overdue messages one
firing at a time, each in its own ``send()``, as every engine did before catch-up merging.
Beside the plain engine stack it shows what merging is worth on this workload, and beside gmqtt
what the engine does without it.
"""

from __future__ import annotations

import uvloop

from .common import StackArgs, StackFigures, parse_args, prepare_process, report
from .engine_driver import run_engine
from .workload import bench_scenario


async def run(args: StackArgs) -> StackFigures:
    """Connect, publish and disconnect every device; return the figures."""
    scenario = bench_scenario(args.host, args.port, args.devices, args.concurrency)
    return await run_engine("engine-unmerged", args, scenario, merge_overdue=False)


def main() -> None:
    """Entry point: ``python -m clients.engine_unmerged_stack --port P --devices N ...``."""
    args = parse_args(__doc__ or "engine stack, unmerged")
    prepare_process()
    report(uvloop.run(run(args)))


if __name__ == "__main__":
    main()
