"""``[[faults]]``: each kind's keys, their ranges, and the broker each restart needs."""

from __future__ import annotations

from simulator.scenario import load_scenario
from simulator.scenario.faults import (
    BrokerRestartFault,
    DropConnectionsFault,
    NetworkFault,
    PartitionFault,
    SlowSinkFault,
)
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


def test_the_window_kinds_are_read_with_their_defaults(write_scenario: WriteScenario) -> None:
    text = (
        MINIMAL
        + '[[faults]]\nkind = "network"\nat_s = 1\nduration_s = 10\nlatency_ms = 200\n'
        + '[[faults]]\nkind = "partition"\nat_s = 20\nduration_s = 5\n'
        + '[[faults]]\nkind = "slow_sink"\nat_s = 30\nduration_s = 5\ndelay_ms = 250\n'
    )
    network, partition, slow = load_scenario(write_scenario(text)).faults
    assert network == NetworkFault(kind="network", at_s=1, duration_s=10, latency_ms=200)
    assert (network.jitter_ms, network.loss) == (0.0, 0.0)
    assert partition == PartitionFault(kind="partition", at_s=20, duration_s=5)
    assert slow == SlowSinkFault(kind="slow_sink", at_s=30, duration_s=5, delay_ms=250)


def test_a_window_needs_its_duration_and_a_loss_is_a_share(problems: Problems) -> None:
    found = problems(
        MINIMAL
        + '[[faults]]\nkind = "network"\nat_s = 1\nloss = 2\n'
        + '[[faults]]\nkind = "partition"\nat_s = 1\nduration_s = 0\n'
        + '[[faults]]\nkind = "slow_sink"\nat_s = 1\nduration_s = 1\n'
    )
    assert {problem.path for problem in found} == {
        "faults.0.network.duration_s",
        "faults.0.network.loss",
        "faults.1.partition.duration_s",
        "faults.2.slow_sink.delay_ms",
    }


def test_a_slow_sink_needs_the_run_s_ingest(problems: Problems) -> None:
    found = problems(
        MINIMAL
        + "[ingest]\nenabled = false\n"
        + '[[faults]]\nkind = "slow_sink"\nat_s = 1\nduration_s = 1\ndelay_ms = 100\n'
    )
    assert [problem.path for problem in found] == ["faults.0.kind"]
    assert "[ingest] is off" in found[0].message
