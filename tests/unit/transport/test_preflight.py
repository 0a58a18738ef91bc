"""The preflight's arithmetic: open files here and per local Mosquitto, ephemeral ports per
(source, broker) pair, memory; every limit passed is named at once, with the numbers."""

from __future__ import annotations

import pytest

from simulator.errors import ResourceLimitError
from simulator.transport.limits import (
    DESCRIPTOR_MARGIN,
    PORT_MARGIN,
    Demand,
    Machine,
    check_source_addresses,
    memory_needed,
    preflight,
)

MACHINE = Machine(
    open_files=20_000, broker_open_files=19_968, ephemeral_ports=28_232, mem_available=24 * 2**30
)


def refusal(demand: Demand, machine: Machine = MACHINE) -> str:
    with pytest.raises(ResourceLimitError) as caught:
        preflight(demand, machine)
    return str(caught.value)


def test_a_plan_that_fits_passes() -> None:
    preflight(Demand(19_000, brokers=1, platform_per_broker=1, local_brokers=True), MACHINE)


def test_this_process_holds_its_open_file_limit_less_the_margin() -> None:
    fits = MACHINE.open_files - DESCRIPTOR_MARGIN
    preflight(Demand(fits, brokers=2), MACHINE)
    message = refusal(Demand(fits + 1, brokers=2))
    assert f"needs {fits + 1 + DESCRIPTOR_MARGIN:,} open files" in message
    assert "may hold only 20,000" in message


def test_each_local_broker_holds_its_share_within_its_limit() -> None:
    machine = Machine(10**6, 19_968, 28_232, None)
    preflight(Demand(99_835, brokers=5, platform_per_broker=1, local_brokers=True), machine)
    message = refusal(
        Demand(100_000, brokers=5, platform_per_broker=1, local_brokers=True), machine
    )
    assert "5 would get up to 20,001 each" in message
    assert "instances = 6 or more" in message
    # A broker elsewhere has limits of its own that we cannot know.
    preflight(Demand(100_000, brokers=1, sources=4), machine)


def test_ports_are_counted_per_source_and_broker_pair() -> None:
    machine = Machine(10**6, 10**6, 28_232, None)
    usable = 28_232 - PORT_MARGIN
    preflight(Demand(usable, brokers=1), machine)
    message = refusal(Demand(usable + 1, brokers=1), machine)
    assert f"{usable + 1:,} connections would share one (source, broker) address pair" in message
    assert "offers 28,232 ephemeral ports" in message
    assert "at least 2 local addresses" in message
    preflight(Demand(2 * usable, brokers=2), machine)
    preflight(Demand(2 * usable, brokers=1, sources=2), machine)
    message = refusal(Demand(1_000_000, brokers=2, sources=4), machine)
    assert "2 broker(s) x 4 source address(es) is too few" in message
    assert "at least 19 local addresses" in message


def test_memory_counts_this_process_the_brokers_and_the_kernel() -> None:
    plain = memory_needed(Demand(1, brokers=1))
    local = memory_needed(Demand(1, brokers=1, local_brokers=True))
    tls = memory_needed(Demand(1, brokers=1, tls=True))
    assert plain < local
    assert plain < tls
    machine = Machine(10**7, 10**7, 10**6, 1 * 2**30)
    message = refusal(Demand(1_000_000, brokers=60, sources=40, local_brokers=True), machine)
    assert "1,000,000 connections need about" in message
    assert "1.0 GiB available" in message
    preflight(Demand(10_000, brokers=1), machine)


def test_every_limit_passed_is_named_at_once() -> None:
    machine = Machine(1_000, 900, 2_000, 2**20)
    message = refusal(Demand(5_000, brokers=1, local_brokers=True), machine)
    assert "open files" in message
    assert "each local Mosquitto" in message
    assert "ephemeral ports" in message
    assert "GiB" in message


def test_a_source_address_not_of_this_machine_is_named() -> None:
    check_source_addresses(["127.0.0.2", None])
    with pytest.raises(ResourceLimitError, match=r"source_addresses: .*192\.0\.2\.1 "):
        check_source_addresses(["127.0.0.3", "192.0.2.1"])
