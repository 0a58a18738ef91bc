"""What the run relies on is checked at connect time: a clear error, never a hang or a miscount."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from simulator.broker import LocalBroker
from simulator.engine.fleet import Fleet
from simulator.errors import BrokerCapabilityError, BrokerUnreachableError
from simulator.scenario import OnboardingPlan, validate_scenario
from tests.fleets import live_fleet

ROOT = Path(__file__).resolve().parents[2]


def fleet_for(port: int, qos: int, devices: int = 3) -> Fleet:
    scenario = validate_scenario(
        {
            "name": "caps",
            "duration_s": 1.0,
            "broker": {"url": f"mqtt://127.0.0.1:{port}"},
            "fleet": {"devices": devices, "publish_interval_s": 1.0, "qos": qos},
            "onboarding": {
                "rate_per_s": 1000.0,
                "max_in_flight": 3,
                "connect_timeout_s": 0.5,
                "reconnect": False,
            },
            "ingest": {"enabled": False},
        },
        "<test>",
    )
    return live_fleet(scenario)


@contextmanager
def broker_with_max_qos(max_qos: int, config_dir: Path) -> Iterator[LocalBroker]:
    """A Mosquitto started from ``broker_config/`` capped at ``max_qos``, stopped after."""
    base = (ROOT / "broker_config" / "mosquitto.conf").read_text()
    (config_dir / "mosquitto.conf").write_text(base + f"\nmax_qos {max_qos}\n")
    with LocalBroker(config_dir=config_dir) as broker:
        yield broker


def test_a_broker_that_accepts_tcp_but_never_answers_connect_is_named() -> None:
    accepted: list[asyncio.BaseTransport] = []

    class Silent(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted.append(transport)  # accept TCP, then say nothing at all

    async def attempt() -> None:
        loop = asyncio.get_running_loop()
        silent = await loop.create_server(Silent, "127.0.0.1", 0)
        port = silent.sockets[0].getsockname()[1]
        try:
            fleet = fleet_for(port, qos=0)
            fleet.build()
            await fleet.onboard(OnboardingPlan(3, 1000.0))
        finally:
            for transport in accepted:
                transport.close()
            silent.close()
            await silent.wait_closed()

    with pytest.raises(BrokerUnreachableError, match="accepted TCP but answered none"):
        asyncio.run(attempt())


@pytest.mark.broker
def test_a_broker_capped_below_the_fleets_qos_is_refused_by_name(tmp_path: Path) -> None:
    async def attempt(broker: LocalBroker) -> None:
        fleet = fleet_for(broker.port, qos=2)
        fleet.build()
        try:
            await fleet.onboard(OnboardingPlan(3, 1000.0))
        finally:
            fleet.stop_publishing()
            await fleet.disconnect_all()

    refused = pytest.raises(BrokerCapabilityError, match=r"at most QoS 1 .* run with --qos 1")
    with broker_with_max_qos(1, tmp_path) as broker, refused:
        asyncio.run(attempt(broker))


@pytest.mark.broker
def test_ingest_says_when_the_broker_downgrades_its_subscription(tmp_path: Path) -> None:
    from simulator.ingest.settings import WorkerSettings
    from simulator.ingest.worker import IngestWorker
    from simulator.sinks.memory import MemorySink

    async def attempt(broker: LocalBroker) -> list[str]:
        worker = IngestWorker(
            WorkerSettings(host=broker.host, port=broker.port, qos=1),
            MemorySink(),
            loop=asyncio.get_running_loop(),
            wall_ns=time.time_ns,
        )
        await worker.start()
        await worker.stop()
        return worker.notes

    with broker_with_max_qos(0, tmp_path) as broker:
        notes = asyncio.run(attempt(broker))
    assert any("granted the ingest subscription QoS 0" in note for note in notes)
