"""Brokers that lack something (played by a double, as Mosquitto cannot be): the ingest worker
and the provisioning responder fall back or say so in one line, never with a traceback, and
both ping at the broker's Server Keep Alive."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from simulator.errors import BrokerCapabilityError
from simulator.ingest.settings import WorkerSettings
from simulator.ingest.worker import IngestWorker
from simulator.mqtt import Properties
from simulator.provisioning import Responder, ResponderSettings
from simulator.sinks.memory import MemorySink
from tests.broker_double import BrokerDouble
from tests.waiting import wait_until

T = TypeVar("T")

REGISTER_TOPIC = "onboarding/{device}/register"
NO_SHARED = Properties(shared_subscription_available=0)
NO_WILDCARDS = Properties(wildcard_subscription_available=0)

BOUND_S = 20.0
"""Bound on each exchange with the double. The clients' own timeouts are longer (60 s), so a
client that waited for a SUBACK the double will never send would fail here, not pass late."""


def with_double(double: BrokerDouble, body: Callable[[], Awaitable[T]]) -> T:
    async def run() -> T:
        await double.start()
        try:
            async with asyncio.timeout(BOUND_S):
                return await body()
        finally:
            await double.stop()

    return asyncio.run(run())


def worker_for(double: BrokerDouble) -> IngestWorker:
    return IngestWorker(
        WorkerSettings(host="127.0.0.1", port=double.port, connect_timeout_s=60.0),
        MemorySink(),
        loop=asyncio.get_running_loop(),
        wall_ns=time.time_ns,
    )


def responder_for(double: BrokerDouble) -> Responder:
    return Responder(
        ResponderSettings("127.0.0.1", double.port, REGISTER_TOPIC, connect_timeout_s=60.0),
        loop=asyncio.get_running_loop(),
        wall_ns=time.time_ns,
    )


async def started_and_stopped(worker: IngestWorker) -> list[str]:
    try:
        await worker.start()
    finally:
        await worker.stop()
    return worker.notes


def test_a_connack_without_shared_subscriptions_gets_a_plain_one_and_a_note() -> None:
    double = BrokerDouble(connack=NO_SHARED)
    notes = with_double(double, lambda: started_and_stopped(worker_for(double)))
    assert double.filters == ["factory/#"]
    assert len(double.connects) == 1
    assert any(
        "Shared Subscription Available 0" in note and "subscribed plainly" in note for note in notes
    ), notes


def test_a_disconnect_with_0x9e_on_a_shared_subscribe_brings_the_worker_back_plainly() -> None:
    double = BrokerDouble(refuse_shared=True)
    notes = with_double(double, lambda: started_and_stopped(worker_for(double)))
    assert double.filters == ["$share/ingest/factory/#", "factory/#"]
    assert len(double.connects) == 2
    assert any("0x9E" in note and "subscribed plainly" in note for note in notes), notes


def test_a_connack_without_wildcards_is_one_line_naming_the_filter_and_the_property() -> None:
    double = BrokerDouble(connack=NO_WILDCARDS)
    with pytest.raises(BrokerCapabilityError) as raised:
        with_double(double, lambda: started_and_stopped(worker_for(double)))
    message = str(raised.value)
    assert "\n" not in message
    assert "Wildcard Subscription Available 0" in message
    assert "'$share/ingest/factory/#'" in message or "'factory/#'" in message
    assert double.filters == []  # refused before anything was sent


def test_the_responder_names_a_missing_wildcard_capability_in_one_line() -> None:
    double = BrokerDouble(connack=NO_WILDCARDS)

    async def attempt() -> None:
        responder = responder_for(double)
        try:
            await responder.start()
        finally:
            await responder.stop()

    with pytest.raises(BrokerCapabilityError) as raised:
        with_double(double, attempt)
    message = str(raised.value)
    assert "\n" not in message
    assert "Wildcard Subscription Available 0" in message
    assert "'onboarding/+/register'" in message


@pytest.mark.parametrize("client_for", [worker_for, responder_for], ids=["worker", "responder"])
def test_the_client_pings_at_the_brokers_server_keep_alive(
    client_for: Callable[[BrokerDouble], IngestWorker | Responder],
) -> None:
    # Ours is 60 s; the broker's 1 s replaces it, so pings come every half second.
    double = BrokerDouble(connack=Properties(server_keep_alive=1))

    async def attempt() -> None:
        client = client_for(double)
        await client.start()
        try:
            await wait_until(lambda: double.pings >= 3, "three pings", timeout_s=BOUND_S)
        finally:
            await client.stop()

    with_double(double, attempt)


@pytest.mark.parametrize(
    ("double", "code", "said"),
    [
        (BrokerDouble(connack=NO_SHARED), 0, "Shared Subscription Available 0"),
        (BrokerDouble(refuse_shared=True), 0, "0x9E"),
        (BrokerDouble(connack=NO_WILDCARDS), 3, "Wildcard Subscription Available 0"),
    ],
    ids=["no-shared-in-connack", "disconnect-0x9e", "no-wildcards"],
)
def test_the_ingest_command_falls_back_or_fails_in_one_line(
    double: BrokerDouble, code: int, said: str, tmp_path: Path
) -> None:
    async def command() -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "simulator",
            "ingest",
            "--broker",
            double.url,
            "--duration",
            "1",
            "--sink",
            f"sqlite:///{tmp_path / 'ingest.sqlite'}",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await process.communicate()
        assert process.returncode is not None
        return process.returncode, err.decode()

    returncode, stderr = with_double(double, command)
    assert "Traceback" not in stderr, stderr
    assert returncode == code, stderr
    said_in = [line for line in stderr.splitlines() if said in line]
    assert said_in, stderr
    if code:
        assert said_in == [stderr.strip().splitlines()[-1]]
        assert said_in[0].startswith("error: ")
    else:
        assert all(line.startswith("ingest: note: ") for line in said_in)
