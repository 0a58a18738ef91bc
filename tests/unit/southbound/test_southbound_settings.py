"""``[southbound]``: strict, every problem at once with its key, endpoints that fit the fleet."""

from __future__ import annotations

from tests.unit.southbound.southbound_scenario import problems, scenario


def test_defaults_serve_any_scenario_from_port_5020() -> None:
    settings = scenario(600).southbound
    assert settings.protocol == "modbus"
    assert settings.word_order == "big"
    assert settings.endpoints(600) == [
        ("127.0.0.1", 5020),
        ("127.0.0.1", 5021),
        ("127.0.0.1", 5022),
    ]


def test_endpoints_take_each_address_then_the_next_port() -> None:
    settings = scenario(
        5, hosts=["127.0.0.1", "127.0.0.2"], port=7000, devices_per_port=2
    ).southbound
    assert settings.endpoints(5) == [("127.0.0.1", 7000), ("127.0.0.2", 7000), ("127.0.0.1", 7001)]
    listed = scenario(5, ports=[9, 4, 6], devices_per_port=2, hosts=["127.0.0.3"]).southbound
    assert listed.endpoints(5) == [("127.0.0.3", 9), ("127.0.0.3", 4), ("127.0.0.3", 6)]
    assert scenario(3, port=0, devices_per_port=1).southbound.endpoints(3) == [("127.0.0.1", 0)] * 3


def test_explicit_ports_must_be_enough() -> None:
    assert problems(500, ports=[5020, 5021]) == [
        "southbound.ports: 500 devices at 247 per port need 3 endpoints; 2 ports on 1 hosts give 2"
    ]
    assert problems(10, port=65535, devices_per_port=1) == [
        "southbound.port: 10 devices need ports 65535 to 65544, beyond 65535"
    ]


def test_every_bad_key_is_reported_at_once() -> None:
    found = problems(
        protocol="profinet",
        hosts=["plc.local"],
        devices_per_port=0,
        update_s=0.0,
        word_order="middle",
        colour="red",
    )
    assert [line.split(":")[0] for line in found] == [
        "southbound.protocol",
        "southbound.hosts",
        "southbound.devices_per_port",
        "southbound.update_s",
        "southbound.word_order",
        "southbound.colour",
    ]


def test_port_and_ports_exclude_each_other_and_ports_are_distinct() -> None:
    assert problems(port=5000, ports=[5001]) == [
        "southbound: give port (the first of consecutive ports) or ports, not both"
    ]
    assert problems(ports=[5001, 5001])[0].startswith(
        "southbound.ports: must not name a port twice"
    )
    assert problems(hosts=[])[0].startswith("southbound.hosts: must name at least one")


def test_modbus_devices_splits_the_fleet_between_the_two_protocols() -> None:
    split = scenario(10, protocol="modbus+opcua", modbus_devices=4).southbound
    assert (split.modbus_range(10), split.opcua_range(10)) == (range(4), range(4, 10))
    both = scenario(10, protocol="modbus+opcua").southbound
    assert (both.modbus_range(10), both.opcua_range(10)) == (range(10), range(10))
    opcua = scenario(10, protocol="opcua").southbound
    assert (opcua.modbus_range(10), opcua.opcua_range(10)) == (range(0), range(10))
    modbus = scenario(10).southbound
    assert (modbus.modbus_range(10), modbus.opcua_range(10)) == (range(10), range(0))


def test_modbus_devices_needs_both_protocols_and_devices_left_for_opcua() -> None:
    assert problems(10, modbus_devices=4) == [
        'southbound: modbus_devices splits the fleet between protocol = "modbus+opcua"\'s two '
        "servers; with 'modbus' leave it out"
    ]
    assert problems(10, protocol="modbus+opcua", modbus_devices=10) == [
        "southbound.modbus_devices: must leave devices for OPC UA: below the fleet's 10"
    ]
    assert problems(10, protocol="modbus+opcua", modbus_devices=0)[0].startswith(
        "southbound.modbus_devices:"
    )


def test_the_opcua_servers_get_a_process_of_their_own_unless_told_to_share() -> None:
    assert scenario(protocol="opcua").southbound.opcua.process == "own"
    shared = scenario(protocol="opcua", opcua={"process": "shared"}).southbound
    assert shared.opcua.process == "shared"
    assert problems(protocol="opcua", opcua={"process": "thread"}) == [
        "southbound.opcua.process: must be 'own' or 'shared', got string 'thread'"
    ]
