"""The pytest plugin as a user meets it: installed, loaded by entry point, in a fresh pytest.

Each test writes a small test suite and runs it in a pytest subprocess (so the plugin is found
the way it is in someone else's project: through the ``pytest11`` entry point), with the same
strictness this project uses: warnings are errors, markers must be registered.
"""

from __future__ import annotations

import socket

import pytest

from simulator.broker import LocalBroker

pytest_plugins = ["pytester"]

pytestmark = pytest.mark.broker

RUN_TIMEOUT_S = 180.0
"""Longest one inner pytest session may take; each needs a few seconds."""

STRICT_INI = """
[pytest]
addopts = -p no:cacheprovider --strict-markers --strict-config
filterwarnings = error
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester directory configured as strictly as this project's own suite."""
    pytester.makeini(STRICT_INI)
    return pytester


def test_factory_fleet_runs_against_a_broker_started_for_the_session(
    suite: pytest.Pytester,
) -> None:
    suite.makepyfile(
        test_fleet="""
        import pytest

        from simulator.errors import ScenarioError
        from simulator.errors import HarnessError

        PORTS = set()

        def test_a_fleet_onboards_and_every_message_is_accounted_for(
            factory_broker, factory_fleet, tmp_path
        ):
            PORTS.add(factory_broker.port)
            assert factory_broker.started
            assert factory_broker.url == f"mqtt://127.0.0.1:{factory_broker.port}"

            report = factory_fleet(devices=10, interval_s=0.25, duration_s=1.0)

            assert report.devices.connected == 10
            assert report.messages.lost == 0
            assert report["messages.ingested"] == report.messages.published >= 40
            assert report.ok
            assert report.broker.url == factory_broker.url
            assert report.scenario == "test_a_fleet_onboards_and_every_message_is_accounted_for"
            assert report.scenario_path.endswith("::" + report.scenario)
            assert (tmp_path / "fleet-1.sqlite").is_file()

        async def test_an_async_test_awaits_the_fleet(factory_broker, factory_fleet):
            PORTS.add(factory_broker.port)
            with pytest.raises(HarnessError):
                factory_fleet(devices=1)
            report = await factory_fleet.run_async(
                devices=5, duration_s=1.0, mqtt_version="3.1.1", payload="json"
            )
            assert report.devices.connected == 5
            assert report.messages.lost == 0
            assert report.settings.broker.mqtt_version == "3.1.1"

        def test_bad_arguments_list_every_problem(factory_fleet, request):
            with pytest.raises(ScenarioError) as caught:
                factory_fleet(devices=0, onboarding={"rate": 1})
            assert [(p.source, p.path) for p in caught.value.problems] == [
                (request.node.nodeid, "fleet.devices"),
                (request.node.nodeid, "onboarding.rate"),
            ]

        def test_the_session_shared_one_broker(factory_broker):
            PORTS.add(factory_broker.port)
            assert len(PORTS) == 1

        def test_without_the_fixtures():
            pass
        """
    )

    result = suite.runpytest_subprocess("-v", timeout=RUN_TIMEOUT_S)

    result.assert_outcomes(passed=5)
    quick = suite.runpytest_subprocess("-m", "not factory_sim", timeout=RUN_TIMEOUT_S)
    quick.assert_outcomes(passed=1, deselected=4)


def test_factory_broker_option_runs_against_the_given_broker_and_leaves_it_running(
    suite: pytest.Pytester, mosquitto: LocalBroker
) -> None:
    suite.makepyfile(
        test_given=f"""
        import os

        def test_the_fleet_uses_the_given_broker(factory_broker, factory_fleet):
            assert not factory_broker.started
            assert (factory_broker.host, factory_broker.port) == ("127.0.0.1", {mosquitto.port})
            before = set(os.listdir())

            # No SQLite path: the rows go to a temporary file, not into the working directory.
            report = factory_fleet(devices=8, duration_s=1.0, sqlite_path=None)

            assert report.broker.url == "{mosquitto.url}"
            assert report.devices.connected == 8
            assert report.messages.lost == 0
            assert report.sink.rows == report.messages.published
            assert set(os.listdir()) == before
        """
    )

    result = suite.runpytest_subprocess("--factory-broker", mosquitto.url, timeout=RUN_TIMEOUT_S)

    result.assert_outcomes(passed=1)
    # The plugin did not start this broker, so it must not have stopped it.
    with socket.create_connection((mosquitto.host, mosquitto.port), timeout=5):
        pass


def test_a_malformed_factory_broker_is_refused_before_any_test_runs(
    suite: pytest.Pytester,
) -> None:
    suite.makepyfile(test_never="def test_never(factory_broker):\n    raise AssertionError\n")

    result = suite.runpytest_subprocess("--factory-broker", "http://127.0.0.1:1883")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--factory-broker: scheme must be mqtt or mqtts*"])


def test_factory_southbound_serves_checks_and_reports_in_a_users_suite(
    suite: pytest.Pytester,
) -> None:
    suite.makepyfile(
        test_south="""
        import json

        import pytest

        from simulator.errors import ScenarioError

        def test_a_gateway_that_never_published_misses_every_device(factory_southbound):
            south = factory_southbound(devices=3, gateway={"topic": "plant/{device}/data"})
            hint = json.loads(south.hint_path.read_text())
            assert [d["unit_id"] for d in hint["devices"]] == [1, 2, 3]
            report = south.report()
            assert report.gateway.devices.expected == 3
            assert report.gateway.devices.missing == 3
            assert report["gateway.values.wrong"] == 0

        def test_bad_tables_list_every_problem(factory_southbound):
            with pytest.raises(ScenarioError) as caught:
                factory_southbound(gateway={"format": "xml", "max_staleness_ms": 0})
            assert [p.path for p in caught.value.problems] == [
                "gateway.format",
                "gateway.max_staleness_ms",
            ]
        """
    )

    result = suite.runpytest_subprocess("-v", timeout=RUN_TIMEOUT_S)

    result.assert_outcomes(passed=2)
    quick = suite.runpytest_subprocess("-m", "not factory_sim", timeout=RUN_TIMEOUT_S)
    quick.assert_outcomes(deselected=2)
