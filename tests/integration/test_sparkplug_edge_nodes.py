"""Gateways carrying Sparkplug devices are edge nodes, checked by an independent subscriber.

Three gateways of four devices publish through a real Mosquitto; paho-mqtt, subscribed to
``spBv1.0/#``, records every message in arrival order and pysparkplug decodes each one. One
gateway's socket is aborted (the broker then publishes its NDEATH will) and another is asked
for a rebirth; an in-process ingest worker accounts for the telemetry.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from simulator.broker import LocalBroker
from simulator.engine.fleet import Fleet
from simulator.ingest.settings import WorkerSettings
from simulator.ingest.worker import IngestWorker
from simulator.metrics.ingest import IngestSnapshot
from simulator.scenario import OnboardingPlan, validate_scenario
from simulator.sinks.memory import MemorySink
from simulator.transport.endpoint import Endpoint
from tests import required
from tests.waiting import wait_until, wait_until_sync

pysparkplug = required.pysparkplug()

pytestmark = pytest.mark.broker

GROUP = "acme"
DEVICES = 12
PER_GATEWAY = 4
EDGES = [f"gw-{gw:05d}" for gw in range(DEVICES // PER_GATEWAY)]

Plant = tuple[Fleet, IngestSnapshot, list[tuple[str, bytes]]]
"""One run: its fleet, ingest's snapshot, and every (topic, payload) the recorder heard."""
Stream = list[tuple[str, str | None, bytes]]
"""An edge node's messages: (kind, device or None for the node's own, payload)."""


class Recorder:
    """paho-mqtt on its own thread: every Sparkplug message, in the order it arrived."""

    def __init__(self, broker: LocalBroker) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="sparkplug-recorder")
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.connect(broker.host, broker.port)
        self.client.subscribe("spBv1.0/#", qos=1)
        self.client.loop_start()
        assert self._subscribed.wait(10), "no SUBACK for the recorder"

    def _on_message(self, _client: Any, _userdata: Any, message: Any) -> None:
        with self._lock:
            self.messages.append((message.topic, bytes(message.payload)))

    def snapshot(self) -> list[tuple[str, bytes]]:
        with self._lock:
            return list(self.messages)

    def rebirth(self, edge: str) -> None:
        command = pysparkplug.NCmd(
            timestamp=int(time.time() * 1000),
            metrics=(
                pysparkplug.Metric(
                    timestamp=int(time.time() * 1000),
                    name="Node Control/Rebirth",
                    datatype=pysparkplug.DataType.BOOLEAN,
                    value=True,
                ),
            ),
        )
        self.client.publish(f"spBv1.0/{GROUP}/NCMD/{edge}", command.encode(), qos=0)

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def kinds_of(messages: list[tuple[str, bytes]], edge: str) -> list[str]:
    """The message types ``edge`` sent, in the order the recorder heard them."""
    return [topic.split("/")[2] for topic, _ in messages if topic.split("/")[3] == edge]


def count(messages: list[tuple[str, bytes]], kind: str) -> int:
    return sum(topic.split("/")[2] == kind for topic, _ in messages)


def reborn(recorder: Recorder, edge: str, births: int) -> bool:
    """The recorder has heard ``edge``'s ``births``-th NBIRTH and a DBIRTH per device after it."""
    kinds = kinds_of(recorder.snapshot(), edge)
    starts = [i for i, kind in enumerate(kinds) if kind == "NBIRTH"]
    return len(starts) >= births and kinds[starts[births - 1] :].count("DBIRTH") >= PER_GATEWAY


def past_seq_255(recorder: Recorder) -> bool:
    """Every edge node has sent more than 256 messages since its NBIRTH: its seq wrapped."""
    messages = recorder.snapshot()
    return all(len(kinds_of(messages, edge)) > 257 for edge in EDGES)


async def run_plant(broker: LocalBroker, recorder: Recorder) -> tuple[Fleet, IngestSnapshot]:
    scenario = validate_scenario(
        {
            "name": "sparkplug",
            "duration_s": 1.0,
            "broker": {"url": broker.url},
            "fleet": {
                "devices": DEVICES,
                "publish_interval_s": 0.02,
                "payload": "sparkplug",
                "model": "cnc-machine",
                "devices_per_connection": PER_GATEWAY,
            },
            "onboarding": {"rate_per_s": 1000.0, "reconnect_min_s": 0.1, "reconnect_max_s": 0.2},
            "ingest": {"enabled": False},
        },
        "<test>",
    )
    loop = asyncio.get_running_loop()
    worker = IngestWorker(
        WorkerSettings(
            host=broker.host, port=broker.port, payload="sparkplug", sparkplug_group=GROUP
        ),
        MemorySink(),
        loop=loop,
        wall_ns=time.time_ns,
    )
    await worker.start()
    fleet = Fleet(scenario, Endpoint(broker.host, broker.port), loop=loop, wall_ns=time.time_ns)
    fleet.build()
    await fleet.onboard(OnboardingPlan(fleet.connection_count, 1000.0))
    await wait_until(lambda: past_seq_255(recorder), "every edge node's seq to pass 255")
    link = fleet.members(1)[0].link
    assert link is not None
    link.abort()  # no DISCONNECT: the broker publishes the will
    await wait_until(lambda: fleet.counters.reconnects == 1, "the gateway to come back")
    await wait_until(lambda: reborn(recorder, "gw-00001", 2), "gw-00001's births after it")
    recorder.rebirth("gw-00002")
    await wait_until(lambda: reborn(recorder, "gw-00002", 2), "gw-00002's rebirth")
    fleet.stop_publishing()
    await wait_until(
        lambda: count(recorder.snapshot(), "DDATA") == fleet.counters.published,
        "the recorder to hear every DDATA before the edge nodes leave",
    )
    await fleet.disconnect_all()
    await wait_until(
        lambda: worker.accounting.unique >= fleet.counters.published,
        "ingest to catch up",
    )
    await worker.stop()
    return fleet, worker.snapshot()


@pytest.fixture(scope="module")
def plant() -> Iterator[Plant]:
    """One run, checked from several sides."""
    with LocalBroker() as broker:
        recorder = Recorder(broker)
        try:
            fleet, snapshot = asyncio.run(run_plant(broker, recorder))
            # The dropped gateway's will, then each edge node's own NDEATH after its DDEATHs.
            wait_until_sync(
                lambda: count(recorder.snapshot(), "NDEATH") == 1 + len(EDGES),
                "the recorder to hear every edge node leave",
            )
            yield fleet, snapshot, recorder.snapshot()
        finally:
            recorder.stop()


def by_edge(messages: list[tuple[str, bytes]]) -> dict[str, Stream]:
    """Each edge node's messages, in the order the recorder heard them."""
    edges: dict[str, Stream] = defaultdict(list)
    for topic, payload in messages:
        parts = topic.split("/")
        edges[parts[3]].append((parts[2], parts[4] if len(parts) > 4 else None, payload))
    return edges


def stream_of(plant: Plant, edge: str) -> tuple[Stream, list[str]]:
    """What ``edge`` sent in the run, in order; and the kinds of those messages alone."""
    stream = by_edge(plant[2])[edge]
    return stream, [kind for kind, _, _ in stream]


def bd_seq(message: Any) -> int:
    if isinstance(message, pysparkplug.NDeath):
        return int(message.bd_seq_metric.value)
    return int(next(m.value for m in message.metrics if m.name == "bdSeq"))


def test_every_edge_node_births_first_and_numbers_every_message(plant: Plant) -> None:
    fleet, _, messages = plant
    edges = by_edge(messages)
    assert sorted(edges) == ["gw-00000", "gw-00001", "gw-00002"]
    data_seen = 0
    wrapped = 0
    for edge, stream in edges.items():
        assert stream[0][0] == "NBIRTH", edge
        births: dict[str, Any] = {}
        expected_seq: int | None = None
        for kind, device, payload in stream:
            if kind == "NCMD":  # the recorder's own rebirth request
                continue
            if kind == "NDEATH":
                expected_seq = None
                births.clear()
                continue
            if kind == "DDEATH":
                message = pysparkplug.DDeath.decode(payload)
                assert device in births, f"{edge}: DDEATH of {device} before its DBIRTH"
                del births[device]
            elif kind == "NBIRTH":
                message = pysparkplug.NBirth.decode(payload)
                assert message.seq == 0
                births.clear()
            elif kind == "DBIRTH":
                message = pysparkplug.DBirth.decode(payload)
                assert device is not None
                births[device] = message
                names = [m.name for m in message.metrics]
                assert names[:3] == ["sim/device", "sim/seq", "sim/ts_ns"]
                assert names[3:] == list(fleet.groups[0].model.signals)
            else:
                assert kind == "DDATA", kind
                assert device in births, f"{edge}: DDATA of {device} before its DBIRTH"
                # pysparkplug resolves every alias through the birth, and fails on an unknown one.
                message = pysparkplug.DData.decode(payload, birth=births[device])
                declared = {m.alias: m.name for m in births[device].metrics}
                assert [m.name for m in message.metrics] == [
                    declared[m.alias] for m in message.metrics
                ]
                assert message.metrics[0].value == device
                data_seen += 1
            if kind != "NBIRTH" and expected_seq is not None:
                assert message.seq == expected_seq, f"{edge}: seq jumped at {kind} {device}"
                wrapped += message.seq == 0
            expected_seq = (message.seq + 1) % 256
    assert data_seen == fleet.counters.published
    assert wrapped, "no edge node's seq went past 255: the run was too short to test it"


def test_a_dropped_gateway_dies_with_its_bdseq_and_is_reborn_with_the_next(plant: Plant) -> None:
    stream, kinds = stream_of(plant, "gw-00001")
    assert kinds.count("NBIRTH") == 2
    assert kinds.count("NDEATH") == 2  # the will at the drop, its own at the end
    death = kinds.index("NDEATH")
    first_birth = pysparkplug.NBirth.decode(stream[0][2])
    ndeath = pysparkplug.NDeath.decode(stream[death][2])
    second_birth = pysparkplug.NBirth.decode(stream[kinds.index("NBIRTH", death)][2])
    assert bd_seq(first_birth) == bd_seq(ndeath) == 0
    assert bd_seq(second_birth) == 1
    # Reborn: NBIRTH, then a DBIRTH per device before any data.
    reborn = kinds[kinds.index("NBIRTH", death) :]
    assert reborn[1 : 1 + PER_GATEWAY] == ["DBIRTH"] * PER_GATEWAY


def test_a_rebirth_command_is_answered_in_the_same_session(plant: Plant) -> None:
    stream, kinds = stream_of(plant, "gw-00002")
    assert kinds.index("NDEATH") == len(kinds) - 1  # only its goodbye, at the end
    births = [i for i, kind in enumerate(kinds) if kind == "NBIRTH"]
    assert len(births) == 2
    assert [bd_seq(pysparkplug.NBirth.decode(stream[i][2])) for i in births] == [0, 0]
    assert kinds[births[1] + 1 : births[1] + 1 + PER_GATEWAY] == ["DBIRTH"] * PER_GATEWAY


def test_ingest_accounts_for_all_telemetry_and_counts_births_apart(plant: Plant) -> None:
    fleet, snapshot, _ = plant
    assert fleet.counters.published > DEVICES * 10
    assert snapshot.unique == fleet.counters.published  # nothing lost
    assert snapshot.duplicated == 0
    assert snapshot.malformed == 0
    assert snapshot.devices_seen == DEVICES
    counts = snapshot.sparkplug
    assert counts is not None
    # First births of 3 gateways, the reconnect's and the rebirth's.
    assert counts["NBIRTH"] == 3 + 1 + 1
    assert counts["DBIRTH"] == (3 + 1 + 1) * PER_GATEWAY
    # The dropped gateway's will, then every gateway's own deaths as it left on purpose.
    assert counts["NDEATH"] == 1 + 3
    assert counts["DDEATH"] == 3 * PER_GATEWAY
    assert counts["NCMD"] == 1


def test_an_edge_node_leaving_on_purpose_says_every_death_itself(plant: Plant) -> None:
    fleet, _, messages = plant
    assert fleet.edges is not None
    assert fleet.edges.deaths == 3 * (PER_GATEWAY + 1)
    for edge, stream in by_edge(messages).items():
        kinds = [kind for kind, _, _ in stream]
        births = [i for i, kind in enumerate(kinds) if kind == "NBIRTH"]
        tail = stream[-(PER_GATEWAY + 1) :]
        assert [kind for kind, _, _ in tail] == ["DDEATH"] * PER_GATEWAY + ["NDEATH"], edge
        assert sorted(device or "" for _, device, _ in tail[:-1]) == sorted(
            device.device_id for device in fleet.members(int(edge[3:]))
        )
        # The NDEATH carries the bdSeq of the session it ends.
        session_birth = pysparkplug.NBirth.decode(stream[births[-1]][2])
        assert bd_seq(pysparkplug.NDeath.decode(tail[-1][2])) == bd_seq(session_birth)
