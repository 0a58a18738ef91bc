"""The gmqtt stack at QoS 1: one ``gmqtt.Client`` per device, acknowledgements counted.

The workload of :mod:`clients.gmqtt_stack` with ``publish(..., qos=1)``: gmqtt stores each
message until its PUBACK (see :mod:`clients.gmqtt_driver` for how the acknowledgements are
counted). The run waits for the last acknowledgement before it disconnects; the acknowledged
rate is acknowledgements / (last PUBACK - first publish), as for the engine.
"""

from __future__ import annotations

import logging

import uvloop

from .common import StackArgs, StackFigures, parse_args, prepare_process, report
from .gmqtt_driver import run_gmqtt
from .workload import Workload, bench_scenario

QOS = 1


async def run(args: StackArgs) -> StackFigures:
    """Connect, publish at QoS 1 until every message is acknowledged, and disconnect."""
    workload = Workload(bench_scenario(args.host, args.port, args.devices, args.concurrency))
    return await run_gmqtt("gmqtt-qos1", args, workload, qos=QOS)


def main() -> None:
    """Entry point: ``python -m clients.gmqtt_qos1_stack --port P --devices N --messages M``."""
    args = parse_args(__doc__ or "gmqtt QoS 1 stack")
    prepare_process()
    # gmqtt logs every connection event; at 10,000 clients that is noise, not information.
    logging.getLogger("gmqtt").setLevel(logging.ERROR)
    report(uvloop.run(run(args)))


if __name__ == "__main__":
    main()
