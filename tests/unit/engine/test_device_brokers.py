"""A device's broker, told from its index alone, is the broker the fleet connects it to.

A restarted ingest worker of a broker pool reads back only its broker's devices
(``broker_of_device``); this holds that function to the fleet's own topology and dealing,
for a mix of devices on their own and behind gateways, whole and in slices.
"""

from __future__ import annotations

import pytest

from simulator.errors import InvalidArgumentError
from simulator.scenario.segment import WHOLE, Segment
from simulator.transport.dealing import Dealing, broker_of_device
from tests.unit.engine.test_fleet_segments import plant, topology

BROKERS = tuple(("127.0.0.1", 1000 + b) for b in range(3))


@pytest.mark.parametrize("brokers", [1, 2, 3])
@pytest.mark.parametrize("segment", [WHOLE, Segment(0, 2), Segment(1, 2), Segment(2, 3)])
def test_the_broker_of_each_device_is_the_one_its_connection_is_dealt_to(
    brokers: int, segment: Segment
) -> None:
    scenario = plant()
    blocks = tuple((group.start, group.per_connection) for group in scenario.fleet.groups)
    built = topology(scenario, segment)
    dealing = Dealing(BROKERS[:brokers], first=segment.index, step=segment.count)
    assert built.devices
    for device in built.devices:
        connected_to = dealing.broker_index(built.connection_of(device.index))
        assert broker_of_device(device.index, blocks, brokers) == connected_to, device.device_id
        assert device.device_id.endswith(f"-{device.index:06d}")


def test_every_broker_gets_devices_and_gateways_keep_theirs_together() -> None:
    blocks = ((0, 1), (10, 4), (30, 7))
    assert [broker_of_device(i, blocks, 2) for i in range(12)] == [0, 1] * 5 + [0, 0]
    # Devices 10-13 share connection 10 (broker 0), 14-17 connection 11 (broker 1).
    assert {broker_of_device(i, blocks, 2) for i in range(10, 14)} == {0}
    assert {broker_of_device(i, blocks, 2) for i in range(14, 18)} == {1}
    # Group 3 starts at connection 10 + 5 = 15: devices 30-36 on broker 1, 37-43 on broker 0.
    assert broker_of_device(30, blocks, 2) == broker_of_device(36, blocks, 2) == 1
    assert broker_of_device(37, blocks, 2) == 0
    assert broker_of_device(5, (), 3) == 2


def test_a_broker_count_below_one_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="brokers >= 1"):
        broker_of_device(0, (), 0)
