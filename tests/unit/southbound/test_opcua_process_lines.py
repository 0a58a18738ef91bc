"""What crosses the boundary of the OPC UA servers' own process: the settings whole (the
resolved scenario, every key as given) and the commands, each refused with what is wrong."""

from __future__ import annotations

import pytest

from simulator.errors import exit_reason
from simulator.scenario.loader import validate_scenario
from simulator.southbound.opcua_process import Command, OpcuaProcessSettings

SCENARIO = {
    "name": "opc",
    "seed": 7,
    "duration_s": 5,
    "fleet": {"devices": 9, "publish_interval_s": 2.0, "model": "robot"},
    "southbound": {
        "protocol": "modbus+opcua",
        "modbus_devices": 3,
        "hosts": ["127.0.0.2"],
        "update_s": 0.5,
        "opcua": {"port": 4900, "servers": 2, "namespace": "urn:x"},
        "faults": [{"kind": "silent", "at_s": 2.0, "duration_s": 1.0, "devices": [5]}],
    },
    "thresholds": {"gateway.values.wrong": "== 0"},
}


def test_the_settings_arrive_whole() -> None:
    scenario = validate_scenario(SCENARIO, "opc.toml")
    arrived = OpcuaProcessSettings.from_json(OpcuaProcessSettings(scenario).to_json())
    # Equal key for key (a threshold also names where it was read: here "<stdin>").
    assert arrived.scenario.model_dump(mode="json") == scenario.model_dump(mode="json")
    assert arrived.scenario.southbound.faults[0].devices == [5]


def test_settings_that_are_not_a_scenario_are_refused_naming_why() -> None:
    with pytest.raises(ValueError, match=r"(?s)not valid: .*fleet: required key is missing"):
        OpcuaProcessSettings.from_json('{"scenario": {"name": "x", "duration_s": 1}}')
    with pytest.raises(ValueError, match="not valid"):
        OpcuaProcessSettings.from_json("not json")


def test_commands_round_trip_and_bad_ones_say_what_is_wrong() -> None:
    for command in (Command("listen", 1_765_000_000.25), Command("down"), Command("up")):
        assert Command.from_line(command.to_line()) == command
    assert Command.from_line(Command("stop").to_line()).kind == "stop"
    with pytest.raises(ValueError, match="one of listen, down, up, stop, got 'restart'"):
        Command.from_line(b'{"command": "restart"}\n')
    with pytest.raises(ValueError, match="listen needs the epoch as a number, got None"):
        Command.from_line(b'{"command": "listen"}\n')
    with pytest.raises(ValueError, match="not a command line"):
        Command.from_line(b"listen\n")


def test_an_exit_status_in_words() -> None:
    assert exit_reason(-9) == "killed by signal 9 (SIGKILL)"
    assert exit_reason(1) == "exited with status 1"
