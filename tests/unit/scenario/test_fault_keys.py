"""``[[faults]]``: each kind's keys, their ranges, and the broker each restart needs."""

from __future__ import annotations

from simulator.scenario import load_scenario
from simulator.scenario.faults import BrokerRestartFault, DropConnectionsFault
from tests.unit.scenario.conftest import MINIMAL, Problems, WriteScenario

RESTART = '[[faults]]\nkind = "broker_restart"\nat_s = 2.5\n'
DROP = '[[faults]]\nkind = "drop_connections"\nat_s = 1\nshare = 0.25\n'


def test_faults_are_read_in_the_order_written(write_scenario: WriteScenario) -> None:
    faults = load_scenario(write_scenario(MINIMAL + RESTART + DROP)).faults
    assert faults == [
        BrokerRestartFault(kind="broker_restart", at_s=2.5),
        DropConnectionsFault(kind="drop_connections", at_s=1.0, share=0.25),
    ]
    restart = faults[0]
    assert isinstance(restart, BrokerRestartFault)
    assert restart.down_s == 1.0


def test_no_faults_is_the_default(write_scenario: WriteScenario) -> None:
    assert load_scenario(write_scenario(MINIMAL)).faults == []


def test_an_unknown_kind_is_named(problems: Problems) -> None:
    found = problems(MINIMAL + '[[faults]]\nkind = "meteor"\nat_s = 1\n')
    assert [problem.path for problem in found] == ["faults.0"]
    assert "'meteor'" in found[0].message
    assert "'broker_restart', 'drop_connections'" in found[0].message


def test_a_share_out_of_range_and_an_unknown_key_are_named(problems: Problems) -> None:
    found = problems(
        MINIMAL + '[[faults]]\nkind = "drop_connections"\nat_s = 1\nshare = 1.5\nloss = 2\n'
    )
    assert {problem.path for problem in found} == {
        "faults.0.drop_connections.share",
        "faults.0.drop_connections.loss",
    }


def test_the_local_broker_is_restarted_by_the_run_not_by_a_command(problems: Problems) -> None:
    found = problems(MINIMAL + RESTART + 'command = "systemctl restart mosquitto"\n')
    assert [problem.path for problem in found] == ["faults.0.command"]
    assert "command is for an external broker" in found[0].message


def test_an_external_broker_needs_the_command_that_restarts_it(problems: Problems) -> None:
    found = problems(MINIMAL + '[broker]\nurl = "mqtt://broker.plant:1883"\n' + RESTART)
    assert [problem.path for problem in found] == ["faults.0.command"]
    assert "give the shell command that restarts it" in found[0].message


def test_an_external_broker_with_its_command_is_accepted(write_scenario: WriteScenario) -> None:
    text = MINIMAL + '[broker]\nurl = "mqtt://b:1883"\n' + RESTART + 'command = "true"\n'
    (fault,) = load_scenario(write_scenario(text)).faults
    assert isinstance(fault, BrokerRestartFault)
    assert fault.command == "true"
