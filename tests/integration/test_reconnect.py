"""A broker restart mid-run: dropped connections come back with jittered backoff."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from simulator.broker import LocalBroker, free_port
from simulator.engine.fleet import Fleet
from simulator.engine.reconnects import ReconnectPolicy
from simulator.scenario import OnboardingPlan, validate_scenario
from tests.integration.restarts import run_through_restart

pytestmark = pytest.mark.broker


async def restart_under(port: int) -> tuple[int, int, int, int, int]:
    scenario = validate_scenario(
        {
            "name": "restart",
            "duration_s": 1.0,
            "broker": {"url": f"mqtt://127.0.0.1:{port}"},
            "fleet": {"devices": 30, "publish_interval_s": 0.1},
            "onboarding": {"rate_per_s": 1000.0, "max_in_flight": 10, "connect_timeout_s": 2.0},
            "ingest": {"enabled": False},
        },
        "<test>",
    )
    broker = LocalBroker(port=port)
    await asyncio.to_thread(broker.start)
    fleet = Fleet(
        scenario,
        "127.0.0.1",
        port,
        loop=asyncio.get_running_loop(),
        wall_ns=time.time_ns,
        reconnect=ReconnectPolicy(min_s=0.2, max_s=1.0),
    )
    fleet.build()
    try:
        await fleet.onboard(OnboardingPlan(30, 1000.0))
        await asyncio.sleep(0.5)
        await asyncio.to_thread(broker.stop)
        for _ in range(100):  # every connection notices the broker is gone
            if fleet.connected == 0:
                break
            await asyncio.sleep(0.05)
        down = fleet.connected
        await asyncio.sleep(0.5)  # reconnect attempts fail while nothing listens
        broker = LocalBroker(port=port)
        await asyncio.to_thread(broker.start)
        for _ in range(200):
            if fleet.connected == 30:
                break
            await asyncio.sleep(0.05)
        published_before = fleet.counters.published
        await asyncio.sleep(0.5)
        published_after = fleet.counters.published
        return (down, fleet.connected, fleet.counters.reconnects, published_before, published_after)
    finally:
        fleet.stop_publishing()
        await fleet.disconnect_all()
        await asyncio.to_thread(broker.stop)


def test_every_connection_comes_back_after_a_broker_restart() -> None:
    down, back, reconnects, before, after = asyncio.run(restart_under(free_port()))
    assert down == 0
    assert back == 30
    assert reconnects == 30
    assert after > before  # publishing resumed on the new connections


async def stall_under(broker: LocalBroker) -> tuple[int, int, int]:
    scenario = validate_scenario(
        {
            "name": "stall",
            "duration_s": 1.0,
            "broker": {"url": broker.url, "keepalive_s": 2},
            "fleet": {"devices": 10, "publish_interval_s": 60.0},
            "onboarding": {"rate_per_s": 1000.0, "max_in_flight": 10, "connect_timeout_s": 1.0},
            "ingest": {"enabled": False},
        },
        "<test>",
    )
    fleet = Fleet(
        scenario,
        broker.host,
        broker.port,
        loop=asyncio.get_running_loop(),
        wall_ns=time.time_ns,
        reconnect=ReconnectPolicy(min_s=0.2, max_s=0.5),
    )
    fleet.build()
    try:
        await fleet.onboard(OnboardingPlan(10, 1000.0))
        os.kill(broker.pid, signal.SIGSTOP)  # the broker stops answering, sockets stay open
        try:
            for _ in range(200):
                if fleet.counters.dead_links >= 10:
                    break
                await asyncio.sleep(0.05)
            dead = fleet.counters.dead_links
        finally:
            os.kill(broker.pid, signal.SIGCONT)
        for _ in range(300):
            if fleet.connected == 10 and fleet.counters.reconnects >= 10:
                break
            await asyncio.sleep(0.05)
        return dead, fleet.connected, fleet.counters.reconnects
    finally:
        fleet.stop_publishing()
        await fleet.disconnect_all()


def test_a_stalled_broker_is_detected_by_keepalive_and_the_fleet_comes_back(
    mosquitto: LocalBroker,
) -> None:
    dead, connected, reconnects = asyncio.run(stall_under(mosquitto))
    assert dead == 10
    assert connected == 10
    assert reconnects >= 10


def test_a_whole_run_survives_a_broker_restart(tmp_path: Path) -> None:
    port = free_port()
    scenario = validate_scenario(
        {
            "name": "restart-run",
            "duration_s": 5.0,
            "broker": {"url": f"mqtt://127.0.0.1:{port}"},
            "fleet": {"devices": 20, "publish_interval_s": 0.2},
            "onboarding": {
                "rate_per_s": 1000.0,
                "max_in_flight": 10,
                "connect_timeout_s": 2.0,
                "reconnect_min_s": 0.2,
                "reconnect_max_s": 1.0,
            },
            "ingest": {"sqlite_path": str(tmp_path / "r.sqlite"), "drain_timeout_s": 5.0},
        },
        "<test>",
    )
    report = run_through_restart(scenario, lambda: LocalBroker(port=port))
    connections = report["connections"]
    assert connections["reconnects"] == 20
    assert connections["ingest_reconnects"] == 1
    assert report["messages"]["ingested"] > 0
    # What was published while the broker was down is lost at QoS 0, and counted, not hidden.
    assert (
        report["messages"]["lost"]
        == report["messages"]["published"] - report["messages"]["ingested"]
    )
