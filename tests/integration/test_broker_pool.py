"""A fleet dealt over several real Mosquitto processes and over several source addresses:
every message ingested once, each broker carrying its share, each address used by its share.

The brokers say what they saw themselves: a Mosquitto started here from ``broker_config/``
with its connection messages on logs the peer address and client id of every client."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from simulator.broker import BrokerPool, LocalBroker
from simulator.broker.locate import CONFIG_DIR_ENV, default_config_dir
from simulator.engine.fleet import Fleet
from simulator.errors import BrokerLaunchError, BrokerUnreachableError, ResourceLimitError
from simulator.scenario import OnboardingPlan, Scenario, validate_scenario
from simulator.transport.endpoint import Endpoint
from tests.runs import run_here
from tests.waiting import wait_until_sync

pytestmark = pytest.mark.broker

DEVICES = 200

_CONNECTED = re.compile(r"New client connected from (?P<host>[\d.]+):\d+ as (?P<id>\S+) ")
_DEVICE_ID = re.compile(r"ms-(?P<index>\d{6})$")


def chatty_config(directory: Path) -> Path:
    """broker_config/ with Mosquitto logging every client's connection and peer address."""
    text = (default_config_dir() / "mosquitto.conf").read_text(encoding="utf-8")
    assert "connection_messages false" in text, "broker_config/ no longer says so: update this"
    text = text.replace("connection_messages false", "connection_messages true")
    directory.mkdir()
    (directory / "mosquitto.conf").write_text(text + "\nlog_type notice\n", encoding="utf-8")
    return directory


@pytest.fixture
def chatty_brokers(tmp_path: Path) -> Iterator[list[LocalBroker]]:
    """Two such brokers, each on a port of its own, stopped after."""
    config = chatty_config(tmp_path / "broker")
    with ExitStack() as stack:
        yield [stack.enter_context(LocalBroker(config)) for _ in range(2)]


def devices_seen(broker: LocalBroker) -> dict[int, str]:
    """Fleet device index -> the peer address the broker saw it connect from."""
    path = broker.log_path
    assert path is not None
    seen = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        found = _CONNECTED.search(line)
        device = _DEVICE_ID.search(found["id"]) if found else None
        if found and device:
            seen[int(device["index"])] = found["host"]
    return seen


def scenario(
    tmp_path: Path, broker: dict[str, Any], ingest: dict[str, Any] | None = None, **onboarding: Any
) -> Scenario:
    data: dict[str, Any] = {
        "name": "pool",
        "duration_s": 1.0,
        "broker": broker,
        "fleet": {"devices": DEVICES, "publish_interval_s": 0.25},
        "onboarding": {"rate_per_s": 2000.0, "max_in_flight": 50, **onboarding},
        "ingest": {
            "sqlite_path": str(tmp_path / "pool.sqlite"),
            "drain_timeout_s": 10.0,
            **(ingest or {}),
        },
    }
    return validate_scenario(data, "<test>")


def assert_exactly_once(report: dict[str, Any]) -> None:
    assert report["devices"]["connected"] == DEVICES
    messages = report["messages"]
    assert messages["published"] >= DEVICES * 4
    assert messages["ingested"] == messages["published"]
    assert (messages["lost"], messages["duplicated"]) == (0, 0)
    assert report["sink"]["rows"] == messages["published"]


def test_a_fleet_over_two_brokers_reaches_each_with_its_half(
    tmp_path: Path, chatty_brokers: list[LocalBroker]
) -> None:
    urls = [broker.url for broker in chatty_brokers]
    report, _ = run_here(scenario(tmp_path, {"urls": urls}))

    assert_exactly_once(report)
    assert report["broker"]["urls"] == urls
    assert report["broker"]["url"] == urls[0]
    for number, broker in enumerate(chatty_brokers):
        seen = devices_seen(broker)
        assert sorted(seen) == list(range(number, DEVICES, 2)), f"broker {number}"
    # One ingest worker per broker, each hearing its broker's devices only.
    workers = report["ingest"]["workers"]
    assert [worker["client_id"].endswith("-b1") for worker in workers] == [False, True]
    received = [worker["received"] for worker in workers]
    assert sum(received) == report["messages"]["published"]
    assert min(received) >= DEVICES // 2 * 4


def test_instances_start_brokers_that_share_the_fleet_and_stop_after(tmp_path: Path) -> None:
    report, said = run_here(scenario(tmp_path, {"instances": 2}))

    assert_exactly_once(report)
    received = [worker["received"] for worker in report["ingest"]["workers"]]
    assert len(received) == 2
    assert min(received) >= DEVICES // 2 * 4
    assert len(set(report["broker"]["urls"])) == 2
    pids = re.search(r"Mosquitto is listening on .* \(pid (\d+), (\d+)\)", said)
    assert pids is not None, said
    for pid in map(int, pids.groups()):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.parametrize("unix_socket", [True, False])
def test_ingest_reaches_the_run_s_own_brokers_over_their_unix_sockets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unix_socket: bool
) -> None:
    """The brokers log every client's peer: a Unix socket connection's is its path. The
    log goes to a file of its own, since a broker's directory goes when the run stops it."""
    logs = Path(tempfile.mkdtemp(prefix="factory-sim-test-logs-"))
    try:
        logs.chmod(0o777)  # Mosquitto started as root writes as its own user
        config = chatty_config(tmp_path / "broker")
        with (config / "mosquitto.conf").open("a", encoding="utf-8") as conf:
            conf.write(f"log_dest file {logs / 'mosquitto.log'}\n")
        monkeypatch.setenv(CONFIG_DIR_ENV, str(config))
        report, said = run_here(scenario(tmp_path, {"instances": 2}, {"unix_socket": unix_socket}))
        log = (logs / "mosquitto.log").read_text(encoding="utf-8")
    finally:
        shutil.rmtree(logs)

    assert_exactly_once(report)
    peers = {
        found["id"]: found["peer"]
        for found in re.finditer(r"New client connected from (?P<peer>\S+) as (?P<id>\S+) ", log)
    }
    ingest = {peer for client, peer in peers.items() if "ingest-" in client}
    devices = {peer for client, peer in peers.items() if _DEVICE_ID.search(client)}
    assert len(ingest) == 2  # one worker on each broker
    assert {peer.rsplit(":", 1)[0] for peer in devices} == {"127.0.0.1"}
    if unix_socket:
        assert all(peer.endswith("/mosquitto.sock:0") for peer in ingest), ingest
        assert "ingest connects over the broker's Unix socket" in said
    else:
        assert all(peer.startswith("127.0.0.1:") for peer in ingest), ingest
        assert "Unix socket" not in said


def test_connections_leave_from_each_source_address_in_turn(
    tmp_path: Path, chatty_brokers: list[LocalBroker]
) -> None:
    broker = chatty_brokers[0]
    sources = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]
    report, _ = run_here(
        scenario(tmp_path, {"url": broker.url}, source_addresses=["127.0.0.2-127.0.0.5"])
    )

    assert_exactly_once(report)
    seen = devices_seen(broker)
    assert sorted(seen) == list(range(DEVICES))
    assert all(seen[index] == sources[index % 4] for index in seen)
    assert Counter(seen.values()) == dict.fromkeys(sources, DEVICES // 4)


def test_a_source_address_not_of_this_machine_is_refused_before_anything_starts(
    tmp_path: Path,
) -> None:
    with pytest.raises(ResourceLimitError, match=r"source_addresses: .*192\.0\.2\.7"):
        run_here(scenario(tmp_path, {"instances": 2}, source_addresses=["127.0.0.2", "192.0.2.7"]))


def test_a_pool_that_fails_to_start_stops_the_brokers_it_started(tmp_path: Path) -> None:
    started: list[int] = []
    made: list[LocalBroker] = []

    class Recorded(LocalBroker):
        def start(self, timeout_s: float = 10.0) -> None:
            super().start(timeout_s)
            started.append(self.pid)

    def make(config_dir: Path | None, host: str) -> LocalBroker:
        # The second broker's configuration directory does not exist.
        made.append(Recorded(tmp_path / "missing" if len(made) == 1 else config_dir, host))
        return made[-1]

    pool = BrokerPool(3, make=make)
    with pytest.raises(BrokerLaunchError, match="broker 2 of 3"):
        pool.start()
    assert len(started) == 1
    with pytest.raises(ProcessLookupError):
        os.kill(started[0], 0)


def bridged_config(directory: Path, to: LocalBroker) -> Path:
    """broker_config/ with a bridge that forwards every factory/ message to ``to``: two
    brokers that behave as one cluster does towards a subscriber on ``to``."""
    text = (default_config_dir() / "mosquitto.conf").read_text(encoding="utf-8")
    bridge = f"connection to-first\naddress {to.host}:{to.port}\ntopic factory/# out 0\n"
    directory.mkdir()
    (directory / "mosquitto.conf").write_text(text + "\n" + bridge, encoding="utf-8")
    return directory


def wait_bridged(source: LocalBroker, target: LocalBroker) -> None:
    """Until a message published on ``source`` reaches a subscriber on ``target``."""
    heard = threading.Event()
    listener = paho.Client(CallbackAPIVersion.VERSION2, client_id="bridge-probe-in")
    listener.on_message = lambda *_: heard.set()
    listener.connect(target.host, target.port)
    listener.subscribe("factory/probe")
    listener.loop_start()
    sender = paho.Client(CallbackAPIVersion.VERSION2, client_id="bridge-probe-out")
    sender.connect(source.host, source.port)
    sender.loop_start()
    try:

        def probe() -> bool:
            sender.publish("factory/probe", b"?")
            return heard.wait(0.1)

        wait_until_sync(probe, "the bridge to forward a message")
    finally:
        for client in (listener, sender):
            client.loop_stop()
            client.disconnect()


def test_a_cluster_is_heard_on_its_first_node_only(tmp_path: Path) -> None:
    with ExitStack() as stack:
        first = stack.enter_context(LocalBroker())
        second = stack.enter_context(LocalBroker(bridged_config(tmp_path / "second", first)))
        wait_bridged(second, first)
        urls = [first.url, second.url]
        report, _ = run_here(scenario(tmp_path, {"urls": urls, "cluster": True}))

    assert_exactly_once(report)
    workers = report["ingest"]["workers"]
    assert len(workers) == 1
    assert workers[0]["received"] == report["messages"]["published"]


def test_a_source_address_not_of_this_machine_is_named_at_connect(
    tmp_path: Path, mosquitto: LocalBroker
) -> None:
    """Without the runner's preflight (a fleet driven directly), the first connects say it."""
    fleet_scenario = scenario(tmp_path, {"url": mosquitto.url}, connect_attempts=1)

    async def onboard() -> None:
        fleet = Fleet(
            fleet_scenario,
            Endpoint(mosquitto.host, mosquitto.port, source_addresses=("192.0.2.7",)),
            loop=asyncio.get_running_loop(),
            wall_ns=time.time_ns,
        )
        fleet.build()
        await fleet.onboard(OnboardingPlan(fleet.connection_count, 2000.0))

    with pytest.raises(BrokerUnreachableError, match=r"cannot bind source address 192\.0\.2\.7"):
        asyncio.run(onboard())
