"""South-side faults: ``[[southbound.faults]]`` strict, the plan a pure function of time, and
the server's answers to a faulty device's reads (none, late, an exception), fed by hand."""

from __future__ import annotations

from typing import Any

from simulator.southbound.faults import FaultPlan, chosen_devices
from simulator.southbound.modbus import (
    ExceptionCode,
    ExceptionResponse,
    RegistersRead,
    encode_read_request,
)
from tests.unit.southbound.southbound_scenario import problems, scenario
from tests.unit.southbound.test_modbus_link import responses, setup
from tests.waiting import wait_until


def ids(transport: Any) -> list[int]:
    """The transaction ids of the answers written so far, in order."""
    return [response.transaction_id for response in responses(transport)]  # type: ignore[attr-defined]


def plan(*faults: dict[str, Any], devices: int = 10) -> FaultPlan:
    settings = scenario(devices, faults=list(faults)).southbound.faults
    return FaultPlan.from_settings(settings, devices, seed=4)


def test_a_fault_holds_from_at_s_for_duration_s_on_its_devices_only() -> None:
    faults = plan({"at_s": 5, "kind": "silent", "devices": [2, 7], "duration_s": 3})
    assert faults.has_device_faults()
    assert faults.device_fault(2, 4.999) is None
    assert faults.device_fault(2, 5.0) is not None
    assert faults.device_fault(7, 7.999) is not None
    assert faults.device_fault(7, 8.0) is None
    assert faults.device_fault(3, 6.0) is None


def test_a_share_names_the_same_devices_every_time_and_differs_by_fault() -> None:
    first = chosen_devices(0.2, 100, seed=4, number=0)
    assert first == chosen_devices(0.2, 100, seed=4, number=0)
    assert len(first) == 20
    assert first != chosen_devices(0.2, 100, seed=4, number=1)
    assert len(chosen_devices(0.001, 100, seed=4, number=0)) == 1


def test_a_restart_is_no_device_fault() -> None:
    faults = plan({"at_s": 1, "kind": "restart", "duration_s": 2})
    assert not faults.has_device_faults()
    assert [(f.start_s, f.end_s) for f in faults.restarts] == [(1.0, 3.0)]


def test_every_bad_fault_is_reported_with_its_key() -> None:
    found = problems(
        10,
        faults=[
            {"at_s": 1, "kind": "melt", "devices": [1], "duration_s": 1},
            {"at_s": 1, "kind": "silent", "duration_s": 1},
            {"at_s": 1, "kind": "restart", "devices": [1], "duration_s": 1},
            {"at_s": 1, "kind": "slow", "devices": [1], "duration_s": 1},
            {"at_s": 1, "kind": "exception", "devices": [1], "duration_s": 1, "code": 5},
            {"at_s": 1, "kind": "silent", "devices": [1], "duration_s": 0, "colour": "red"},
        ],
    )
    assert [line.split(": ", 1)[0] for line in found] == [
        "southbound.faults.0.kind",
        "southbound.faults.1",
        "southbound.faults.2",
        "southbound.faults.3",
        "southbound.faults.4",
        "southbound.faults.5.duration_s",
        "southbound.faults.5.colour",
    ]
    assert "needs devices (fleet indexes) or share" in found[1]
    assert "code must be one of 1, 2, 3, 4, 6, 10, 11; got 5" in found[4]


def test_a_device_beyond_the_fleet_is_refused() -> None:
    assert problems(
        10, faults=[{"at_s": 1, "kind": "silent", "devices": [3, 10], "duration_s": 1}]
    ) == ["southbound.faults.0.devices: devices [10] are not in a fleet of 10 (indexes 0..9)"]


def test_slow_and_exception_are_refused_where_no_device_answers_over_modbus() -> None:
    slow = {"at_s": 1, "kind": "slow", "devices": [3], "duration_s": 1, "delay_ms": 100}
    exception = {"at_s": 1, "kind": "exception", "devices": [3], "duration_s": 1}
    for fault in (slow, exception):
        (found,) = problems(10, protocol="opcua", faults=[fault])
        assert found.startswith(
            f"southbound.faults.0.kind: {fault['kind']} is a Modbus answer and protocol = "
            "'opcua' serves no device over Modbus; OPC UA devices take silent"
        ), found
    assert problems(
        10, protocol="modbus+opcua", modbus_devices=4, faults=[{**slow, "devices": [2, 5]}]
    ) == [
        "southbound.faults.0.devices: devices [5] are served over OPC UA only "
        "(modbus_devices = 4); slow acts on Modbus devices 0..3, silent and restart on any"
    ]
    # Silent and restart act on OPC UA servers; both ways, slow acts on the Modbus side.
    silent = {**slow, "kind": "silent"}
    del silent["delay_ms"]
    scenario(10, protocol="opcua", faults=[silent, {"at_s": 5, "kind": "restart", "duration_s": 1}])
    scenario(10, protocol="modbus+opcua", faults=[slow])


def test_a_share_of_slow_devices_is_chosen_among_those_served_over_modbus() -> None:
    settings = scenario(
        100,
        protocol="modbus+opcua",
        modbus_devices=20,
        faults=[
            {"at_s": 1, "kind": "slow", "share": 0.5, "duration_s": 1, "delay_ms": 10},
            {"at_s": 1, "kind": "silent", "share": 0.5, "duration_s": 1},
        ],
    ).southbound.faults
    slow, silent = FaultPlan.from_settings(settings, 100, seed=4, modbus_devices=20).faults
    assert len(slow.devices) == 10
    assert max(slow.devices) < 20
    assert len(silent.devices) == 50
    assert max(silent.devices) >= 20


def test_the_edges_are_every_device_faults_start_and_end_in_order() -> None:
    found = plan(
        {"at_s": 4, "kind": "silent", "devices": [1], "duration_s": 2},
        {"at_s": 1, "kind": "silent", "devices": [2], "duration_s": 5},
        {"at_s": 3, "kind": "restart", "duration_s": 1},
    )
    assert found.edges() == (1.0, 4.0, 6.0)


def faulty(kind: str, **extra: Any) -> Any:
    """The test_modbus_link rig (4 robots, 2 per endpoint), device 2 (unit 1 of endpoint 1)
    faulty from 10 s to 20 s after the epoch."""
    server, link, transport, clock = setup()
    server.faults = FaultPlan.from_settings(
        scenario(
            4, faults=[{"at_s": 10, "kind": kind, "devices": [2], "duration_s": 10, **extra}]
        ).southbound.faults,
        4,
        seed=1,
    )
    server._device_faults = True
    clock.now = server.epoch + 12.0
    return server, link, transport, clock


def test_a_silent_device_reads_and_never_answers_while_the_others_do() -> None:
    server, link, transport, clock = faulty("silent")
    link.data_received(encode_read_request(1, 1, 3, 0, 1) + encode_read_request(2, 2, 3, 0, 1))
    assert [type(r) for r in responses(transport)] == [RegistersRead]
    assert ids(transport) == [2]
    assert server.counters.unanswered == 1
    clock.now = server.epoch + 20.0  # over
    link.data_received(encode_read_request(3, 1, 3, 0, 1))
    assert ids(transport) == [2, 3]


def test_a_faulty_device_answers_the_exception_code_it_is_given() -> None:
    server, link, transport, _ = faulty("exception", code=6)
    link.data_received(encode_read_request(1, 1, 4, 0, 2))
    assert responses(transport) == [ExceptionResponse(1, 1, 4, ExceptionCode.SERVER_DEVICE_BUSY)]
    assert server.counters.exceptions == {6: 1}


async def test_a_slow_device_answers_later_and_the_others_at_once() -> None:
    server, link, transport, _ = faulty("slow", delay_ms=50)
    link.data_received(encode_read_request(1, 1, 3, 0, 1) + encode_read_request(2, 2, 3, 0, 1))
    assert ids(transport) == [2]
    await wait_until(lambda: len(responses(transport)) == 2, "the late answer")
    assert ids(transport) == [2, 1]
    assert server.counters.late == 1


def test_no_fault_plan_costs_reads_nothing() -> None:
    server, link, _, _ = setup()
    assert not server._device_faults
    link.data_received(encode_read_request(1, 1, 3, 0, 1))
    assert server.counters.reads == 1
