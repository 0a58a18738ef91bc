"""A broker restart mid-run: dropped connections come back with jittered backoff."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from simulator.broker import LocalBroker, free_port
from simulator.scenario import OnboardingPlan, validate_scenario
from tests.fleets import live_fleet
from tests.integration.restarts import QUICK_RETURN, restart_scenario, whole_run_through_restart
from tests.integration.test_qos0_loss import stored
from tests.waiting import wait_until

pytestmark = pytest.mark.broker


async def restart_under(port: int) -> tuple[int, int]:
    scenario = restart_scenario(
        "restart",
        port,
        duration_s=1.0,
        fleet={"devices": 30, "publish_interval_s": 0.1},
        onboarding={"max_in_flight": 10},
        ingest={"enabled": False},
    )
    broker = LocalBroker(port=port)
    await asyncio.to_thread(broker.start)
    fleet = live_fleet(scenario)
    fleet.build()
    try:
        await fleet.onboard(OnboardingPlan(30, 1000.0))
        await wait_until(lambda: len(fleet.published_by_device()) == 30, "every device to publish")
        await asyncio.to_thread(broker.stop)
        await wait_until(lambda: fleet.connected == 0, "every connection to see the broker gone")
        await asyncio.sleep(0.5)  # the fault itself: reconnect attempts fail while nothing listens
        broker = LocalBroker(port=port)
        await asyncio.to_thread(broker.start)
        await wait_until(lambda: fleet.connected == 30, "every connection to come back")
        published_before = fleet.counters.published
        await wait_until(
            lambda: fleet.counters.published > published_before,
            "publishing to resume on the new connections",
        )
        return fleet.connected, fleet.counters.reconnects
    finally:
        fleet.stop_publishing()
        await fleet.disconnect_all()
        await asyncio.to_thread(broker.stop)


def test_every_connection_comes_back_after_a_broker_restart() -> None:
    back, reconnects = asyncio.run(restart_under(free_port()))
    assert back == 30
    assert reconnects == 30


async def stall_under(broker: LocalBroker) -> tuple[int, int, int]:
    scenario = validate_scenario(
        {
            "name": "stall",
            "duration_s": 1.0,
            "broker": {"url": broker.url, "keepalive_s": 2},
            "fleet": {"devices": 10, "publish_interval_s": 60.0},
            "onboarding": QUICK_RETURN
            | {"max_in_flight": 10, "connect_timeout_s": 1.0, "reconnect_max_s": 0.5},
            "ingest": {"enabled": False},
        },
        "<test>",
    )
    fleet = live_fleet(scenario)
    fleet.build()
    try:
        await fleet.onboard(OnboardingPlan(10, 1000.0))
        os.kill(broker.pid, signal.SIGSTOP)  # the broker stops answering, sockets stay open
        try:
            await wait_until(
                lambda: fleet.counters.dead_links >= 10, "keepalive to find every link dead"
            )
            dead = fleet.counters.dead_links
        finally:
            os.kill(broker.pid, signal.SIGCONT)
        await wait_until(
            lambda: fleet.connected == 10 and fleet.counters.reconnects >= 10,
            "every connection to come back",
        )
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
    report = whole_run_through_restart(
        "restart-run",
        tmp_path / "r.sqlite",
        duration_s=5.0,
        fleet={"devices": 20, "publish_interval_s": 0.2},
        onboarding={"max_in_flight": 10},
    )
    connections = report["connections"]
    assert connections["reconnects"] == 20
    assert connections["ingest_reconnects"] == 1
    assert report["messages"]["ingested"] > 0
    # What the restart cost at QoS 0 is counted, not hidden: the truth is what ingest stored.
    # Publishing went on after the restart, so each device's last number stored is its count.
    seqs = stored(tmp_path / "r.sqlite")
    published = {device: max(numbers) + 1 for device, numbers in seqs.items()}
    assert sum(published.values()) == report["messages"]["published"]
    lost = sum(published[device] - len(numbers) for device, numbers in seqs.items())
    assert report["messages"]["lost"] == lost
