"""The fleet's Sparkplug hooks over a fake transport: wills, births in order, seq, rebirth."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from simulator.engine.edge_node import EdgeNodes, publishes_sparkplug
from simulator.fleet import DeviceModel, get_model
from simulator.mqtt import ClientSession, MQTTVersion, Publish, Subscribe, decode
from simulator.payloads import get_codec
from simulator.payloads.codec import PayloadCodec
from simulator.payloads.sparkplug import DataType, Metric, SparkplugPayload, encode_payload
from simulator.payloads.sparkplug.slotted_node import decode_data
from simulator.transport.connection import MqttLink
from tests import required

pysparkplug = required.pysparkplug()

V311 = MQTTVersion.V311
MODEL = get_model("cnc-machine")


@dataclass
class Group:
    model: DeviceModel
    codec: PayloadCodec


@dataclass(eq=False)
class Device:
    index: int
    device_id: str
    group: int
    state: Any
    seq: int = 0
    prefix: bytes = b""
    admitted: bool = False
    link: MqttLink | None = None


@dataclass
class Host:
    devices_per_connection: int
    groups: list[Group]
    devices: list[Device] = field(default_factory=list)

    def client_id(self, connection: int) -> str:
        if self.devices_per_connection == 1:
            return self.devices[connection].device_id
        return f"gw-{connection:05d}"

    def members(self, connection: int) -> list[Device]:
        per = self.devices_per_connection
        return self.devices[connection * per : (connection + 1) * per]

    def connection_of(self, index: int) -> int:
        return index // self.devices_per_connection

    def first_device(self, connection: int) -> int:
        return connection * self.devices_per_connection

    def is_gateway(self, connection: int) -> bool:
        return self.devices_per_connection > 1


class Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)


def plant(per: int, payloads: tuple[str, ...]) -> tuple[Host, EdgeNodes]:
    groups = [Group(MODEL, get_codec(name)) for name in dict.fromkeys(payloads)]
    host = Host(per, groups)
    for index, payload in enumerate(payloads):
        number = list(dict.fromkeys(payloads)).index(payload)
        host.devices.append(Device(index, f"cnc-{index:06d}", number, MODEL.new_state(index, 1)))
    assert publishes_sparkplug(host)
    edges = EdgeNodes(
        host, "acme", wall_ns=lambda: 1_700_000_000_000_000_000, run_time_s=lambda: 1.0
    )
    return host, edges


def connect(edges: EdgeNodes, host: Host, connection: int) -> tuple[MqttLink, Transport]:
    session = ClientSession(host.client_id(connection), V311, 60)
    edges.arm(connection, session)
    link = MqttLink(session, listener=None, owner=connection)  # type: ignore[arg-type]
    transport = Transport()
    link.transport = transport  # type: ignore[assignment]
    session.connect()
    session.receive_data(b"\x20\x02\x00\x00")
    return link, transport


def admit(edges: EdgeNodes, device: Device, link: MqttLink) -> None:
    device.link = link
    device.admitted = True
    edges.admitted(device, link)


def sent(transport: Transport) -> list[Publish | Subscribe]:
    packets = []
    for data in transport.written:
        decoded = decode(data, V311)
        assert decoded is not None
        assert isinstance(decoded[0], Publish | Subscribe)
        packets.append(decoded[0])
    transport.written.clear()
    return packets


def test_no_edge_nodes_without_a_sparkplug_device() -> None:
    host = Host(4, [Group(MODEL, get_codec("msgpack"))])
    assert not publishes_sparkplug(host)


def test_each_connect_carries_the_ndeath_with_the_next_bd_seq() -> None:
    _host, edges = plant(4, ("sparkplug",) * 4)
    session = ClientSession("gw-00000", V311, 60)
    for expected in [*range(256), 0]:
        edges.arm(0, session)
        will = session.options.will
        assert will is not None
        assert (will.topic, will.qos, will.retain) == ("spBv1.0/acme/NDEATH/gw-00000", 1, False)
        assert pysparkplug.NDeath.decode(will.payload).bd_seq_metric.value == expected
    connect_packet = decode(session.connect(), V311)
    assert connect_packet is not None
    assert connect_packet[0].will == will  # type: ignore[union-attr]


def test_births_go_out_in_order_as_devices_are_admitted_then_data_is_numbered() -> None:
    host, edges = plant(4, ("sparkplug",) * 4)
    edges.built(host.devices, V311)
    link, transport = connect(edges, host, 0)
    admit(edges, host.devices[0], link)
    nbirth, subscribe, dbirth = sent(transport)
    assert isinstance(nbirth, Publish)
    assert isinstance(dbirth, Publish)
    assert nbirth.topic == "spBv1.0/acme/NBIRTH/gw-00000"
    assert isinstance(subscribe, Subscribe)
    assert subscribe.subscriptions[0].topic_filter == "spBv1.0/acme/NCMD/gw-00000"
    assert dbirth.topic == "spBv1.0/acme/DBIRTH/gw-00000/cnc-000000"
    assert pysparkplug.DBirth.decode(dbirth.payload).seq == 1
    admit(edges, host.devices[1], link)
    (second,) = sent(transport)
    assert isinstance(second, Publish)
    assert pysparkplug.DBirth.decode(second.payload).seq == 2
    values = MODEL.sample(host.devices[1].state, 0, 1.0)
    raw = edges.data(link, 1, "cnc-000001", 0, 5_000_000, values)
    assert decode_data(raw).device_id == "cnc-000001"
    assert pysparkplug.DData.decode(raw, birth=pysparkplug.DBirth.decode(second.payload)).seq == 3
    edges.not_sent(link, 1)
    assert edges.data(link, 1, "cnc-000001", 0, 5_000_000, values)[-1] == 3  # seq 3 again
    prefix = host.devices[2].prefix
    assert b"spBv1.0/acme/DDATA/gw-00000/cnc-000002" in prefix


def test_birth_values_come_from_a_sample_that_leaves_the_state_alone() -> None:
    host, edges = plant(4, ("sparkplug",) * 4)
    device = host.devices[0]
    before = [getattr(device.state, name) for name in type(device.state).__slots__]
    link, transport = connect(edges, host, 0)
    admit(edges, device, link)
    assert [getattr(device.state, name) for name in type(device.state).__slots__] == before
    dbirth = sent(transport)[2]
    assert isinstance(dbirth, Publish)
    names = [m.name for m in pysparkplug.DBirth.decode(dbirth.payload).metrics]
    assert names == ["sim/device", "sim/seq", "sim/ts_ns", *MODEL.signals]


def test_a_rebirth_command_repeats_the_births_and_a_reconnect_takes_the_next_bd_seq() -> None:
    host, edges = plant(4, ("sparkplug",) * 4)
    link, transport = connect(edges, host, 0)
    for device in host.devices[:3]:
        admit(edges, device, link)
    sent(transport)
    command = encode_payload(
        SparkplugPayload(
            1, (Metric("Node Control/Rebirth", datatype=DataType.Boolean, value=True),)
        )
    )
    assert edges.on_message(link, Publish("spBv1.0/acme/NCMD/gw-00000", command))
    births = sent(transport)
    assert [p.topic for p in births if isinstance(p, Publish)] == [
        "spBv1.0/acme/NBIRTH/gw-00000",
        *(f"spBv1.0/acme/DBIRTH/gw-00000/cnc-00000{i}" for i in range(3)),
    ]
    assert (edges.births, edges.rebirths) == (1 + 3 + 1 + 3, 1)
    assert not edges.on_message(link, Publish("factory/other", b""))
    node = edges.node(0)
    assert node is not None
    assert node.bd_seq == 0
    link.session.connection_lost()
    edges.arm(0, link.session)
    assert (node.bd_seq, node.born) == (1, False)


def test_a_device_on_its_own_is_its_own_edge_node_and_sends_ndata() -> None:
    host, edges = plant(1, ("sparkplug", "msgpack"))
    edges.built(host.devices, V311)
    assert b"spBv1.0/acme/NDATA/cnc-000000" in host.devices[0].prefix
    assert host.devices[1].prefix == b""  # the other format keeps its own topic
    link, transport = connect(edges, host, 0)
    admit(edges, host.devices[0], link)
    nbirth, _ = sent(transport)
    assert isinstance(nbirth, Publish)
    names = [m.name for m in pysparkplug.NBirth.decode(nbirth.payload).metrics]
    assert names[:3] == ["bdSeq", "Node Control/Rebirth", "sim/device"]
    other = ClientSession("cnc-000001", V311, 60)
    edges.arm(1, other)
    assert other.options.will is None  # not an edge node
    assert edges.encoder(host.groups[1]) is None


def test_leaving_on_purpose_sends_a_ddeath_per_admitted_device_then_the_ndeath() -> None:
    host, edges = plant(4, ("sparkplug",) * 4)
    edges.built(host.devices, V311)
    edges.goodbye(0, connect(edges, host, 0)[0])  # never born: nothing to say
    link, transport = connect(edges, host, 0)  # the second session: bdSeq 1
    for device in host.devices[:3]:
        admit(edges, device, link)
    sent(transport)
    edges.goodbye(0, link)
    deaths = sent(transport)
    assert [p.topic for p in deaths if isinstance(p, Publish)] == [
        "spBv1.0/acme/DDEATH/gw-00000/cnc-000000",
        "spBv1.0/acme/DDEATH/gw-00000/cnc-000001",
        "spBv1.0/acme/DDEATH/gw-00000/cnc-000002",
        "spBv1.0/acme/NDEATH/gw-00000",
    ]
    ddeaths = [pysparkplug.DDeath.decode(p.payload) for p in deaths[:3] if isinstance(p, Publish)]
    assert [d.seq for d in ddeaths] == [4, 5, 6]  # after NBIRTH 0 and three DBIRTHs
    ndeath = deaths[3]
    assert isinstance(ndeath, Publish)
    assert ndeath.qos == 1
    assert int(pysparkplug.NDeath.decode(ndeath.payload).bd_seq_metric.value) == 1
    assert edges.deaths == 4
    edges.goodbye(0, link)  # said once: the node is no longer born
    assert sent(transport) == []
