"""CPU of the northbound check alone, per message: no sockets, no broker, no server.

Builds the JSON messages a correct gateway publishes for ``--devices`` devices (40 % CNC
machines, 30 % power meters, 30 % robots, as bench/gateway_check.py serves) once a second for
``--seconds`` seconds, read 0.3 s into each step, then feeds them to a fresh
:class:`~simulator.northbound.check.GatewayCheck` at their arrival times and divides its CPU
(``time.process_time``) by the messages. That includes computing the ground truth (each
device's model stepped once per second, as the server also does) and decoding the JSON. Run:

    .venv/bin/python bench/gateway_check_cost.py [--devices 1000] [--seconds 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import time

from simulator.fleet import PlantLayout
from simulator.northbound.check import GatewayCheck
from simulator.northbound.truth import GroundTruth, RegisterValues
from simulator.scenario.composition import Group
from simulator.scenario.gateway import GatewaySettings
from simulator.southbound.faults import FaultPlan
from simulator.southbound.fleet_values import ServedFleet

SETTINGS = GatewaySettings(topic="plant/{device}/data", quality="quality", max_staleness_ms=2000)


def groups(devices: int) -> tuple[Group, ...]:
    cnc, meters = round(devices * 0.4), round(devices * 0.3)
    return (
        Group("cnc-machine", "json", 1.0, 0, cnc),
        Group("power-meter", "json", 1.0, cnc, meters),
        Group("robot", "json", 1.0, cnc + meters, devices - cnc - meters),
    )


def fleet(devices: int) -> ServedFleet:
    return ServedFleet(groups(devices), PlantLayout(4, 4), seed=1, devices_per_endpoint=247)


def messages(devices: int, seconds: int) -> list[tuple[str, bytes, float]]:
    """What a correct gateway publishes, with each message's arrival time."""
    source = fleet(devices)
    out = []
    for second in range(1, seconds + 1):
        t_s = second + 0.3
        for device in source:
            numbers = source.encoder_of(device.index).numbers(source.registers(device.index, t_s))
            fields = source.map_of(device.index).fields
            values = {f.signal: f.value(n) for f, n in zip(fields, numbers, strict=True)}
            body = json.dumps({"quality": "good", "values": values}).encode()
            out.append((f"plant/{device.device_id}/data", body, t_s))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    fed = messages(args.devices, args.seconds)
    for _ in range(args.repeats):
        truth = GroundTruth(
            RegisterValues(fleet(args.devices)), max_staleness_s=2.0, lookback_s=30.0
        )
        check = GatewayCheck(truth, SETTINGS, FaultPlan(()), started_s=0.0)
        before = time.process_time()
        for topic, payload, t_s in fed:
            check.on_message(topic, payload, t_s)
        cpu = time.process_time() - before
        values = check.correct + check.stale + check.wrong
        assert check.wrong == check.stale == 0, "a correct gateway's values must all be correct"
        print(
            json.dumps(
                {
                    "messages": len(fed),
                    "values": values,
                    "cpu_us_per_message": round(1e6 * cpu / len(fed), 1),
                    "cpu_us_per_value": round(1e6 * cpu / values, 2),
                }
            )
        )


if __name__ == "__main__":
    main()
