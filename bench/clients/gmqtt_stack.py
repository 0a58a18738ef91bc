"""The gmqtt stack: one ``gmqtt.Client`` per device, on uvloop.

Connects go through a pool of ``concurrency`` worker tasks (the engine's connector has the same
shape), so at most that many connects are pending. Publishing is one loop over every client per
round, ``messages`` rounds, with a yield to the event loop between rounds; gmqtt's ``publish``
writes a QoS 0 message to the transport at once, so this is as fast as gmqtt can be driven.
"""

from __future__ import annotations

import logging

import uvloop

from .common import StackArgs, StackFigures, parse_args, prepare_process, report
from .gmqtt_driver import run_gmqtt
from .workload import Workload, bench_scenario


async def run(args: StackArgs) -> StackFigures:
    """Connect, publish and disconnect every device; return the figures."""
    workload = Workload(bench_scenario(args.host, args.port, args.devices, args.concurrency))
    return await run_gmqtt("gmqtt", args, workload)


def main() -> None:
    """Entry point: ``python -m clients.gmqtt_stack --port P --devices N --messages M``."""
    args = parse_args(__doc__ or "gmqtt stack")
    prepare_process()
    # gmqtt logs every connection event; at 10,000 clients that is noise, not information.
    logging.getLogger("gmqtt").setLevel(logging.ERROR)
    report(uvloop.run(run(args)))


if __name__ == "__main__":
    main()
