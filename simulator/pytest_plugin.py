"""A pytest plugin for testing your own system against a simulated fleet.

Installed with the package (entry point ``pytest11``, name ``factory_sim``), it gives every
test suite in the environment these fixtures::

    def test_gateway_forwards_everything(factory_broker, factory_fleet):
        start_my_gateway(factory_broker.host, factory_broker.port)
        report = factory_fleet(devices=50, duration_s=2.0)
        assert report.devices.connected == 50
        assert report.messages.lost == 0

``factory_broker`` (session-scoped) is a Mosquitto started from ``broker_config/``, or the
broker named with ``--factory-broker mqtt://host:port`` (then nothing is started).
``factory_fleet`` runs a fleet against it and returns a :class:`~simulator.harness.Report`;
its SQLite files go under the test's ``tmp_path``. Tests that use either fixture get the
``factory_sim`` marker, so ``-m "not factory_sim"`` leaves them out.

``factory_southbound`` serves a simulated fleet as Modbus TCP or OPC UA devices for a gateway
under test to poll, and checks what the gateway publishes on ``factory_broker``::

    def test_my_gateway(factory_southbound):
        south = factory_southbound(devices=20, gateway={"topic": "plant/{device}/data"})
        with MyGateway(south.hint_path, south.broker_url):
            wait_a_few_polls()
        report = south.report()  # stops serving and checking
        assert report.gateway.values.wrong == 0

Every pytest run in the environment imports this module, so it imports nothing heavy at the
top: the harness, the broker launcher and the runner load when a fixture is first used.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import pytest

if TYPE_CHECKING:
    from simulator.harness import BrokerEndpoint, Report
    from simulator.northbound.harness import SouthboundCheck

BROKER_OPTION = "--factory-broker"
"""The command-line option naming an existing broker to test against."""

MARKER = "factory_sim"
"""The marker every test using these fixtures gets."""

_FIXTURES = frozenset({"factory_broker", "factory_fleet", "factory_southbound"})
_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9._-]+")
_NAME_MAX = 64


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--factory-broker``."""
    group = parser.getgroup("factory_sim", "factory fleet simulator")
    group.addoption(
        BROKER_OPTION,
        dest="factory_broker",
        metavar="URL",
        default=None,
        help="run factory_fleet against this broker (mqtt://host:port) instead of starting "
        "a local Mosquitto from broker_config/",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker and refuse a malformed ``--factory-broker`` before any test runs."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}: the test runs a simulated device fleet against an MQTT broker "
        "(added to every test that uses factory_broker or factory_fleet)",
    )
    url = config.getoption("factory_broker")
    if url is not None:
        from simulator.scenario.broker_url import broker_url_problem

        problem = broker_url_problem(url)
        if problem is not None:
            raise pytest.UsageError(f"{BROKER_OPTION}: {problem}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that use the fixtures, so a quick run can leave them out."""
    for item in items:
        if _FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(MARKER)


@pytest.fixture(scope="session")
def factory_broker(pytestconfig: pytest.Config) -> Iterator[BrokerEndpoint]:
    """The broker under test: given with ``--factory-broker``, or a Mosquitto started for
    the session from ``broker_config/`` on a free loopback port and stopped at its end."""
    from simulator.harness import BrokerEndpoint

    url = pytestconfig.getoption("factory_broker")
    if url is not None:
        from simulator.scenario.broker_url import parse_broker_url

        address = parse_broker_url(url, source=BROKER_OPTION)
        yield BrokerEndpoint(url=url, host=address.host, port=address.port, started=False)
        return
    from simulator.broker import LocalBroker

    broker = LocalBroker()
    broker.start()
    try:
        yield BrokerEndpoint(url=broker.url, host=broker.host, port=broker.port, started=True)
    finally:
        broker.stop()


class _RunsOfATest:
    """What the runs one test starts share: their broker, a directory for their files, names."""

    __slots__ = ("broker_url", "directory", "name", "source")

    def __init__(self, broker_url: str, directory: Path, name: str, source: str) -> None:
        self.broker_url = broker_url
        """The broker every run connects to."""
        self.directory = directory
        """Where the runs' files go."""
        self.name = name
        """The scenario name of every run (it names the ingest client)."""
        self.source = source
        """What problems and the reports' ``scenario_path`` name as the runs' origin."""

    @classmethod
    def for_test(
        cls, broker: BrokerEndpoint, directory: Path, request: pytest.FixtureRequest
    ) -> Self:
        """The runs of the test ``request`` is for, against ``broker``, with files in
        ``directory``; named after the test."""
        return cls(broker.url, directory, scenario_name(request.node.name), request.node.nodeid)


class FleetFactory(_RunsOfATest):
    """Runs fleets against one broker for one test; what ``factory_fleet`` is.

    Call it (``factory_fleet(devices=50, ...)``) in a plain test, or await
    :meth:`run_async` in an async one; both take the keyword arguments of
    :func:`simulator.harness.run_fleet` and return its :class:`~simulator.harness.Report`.
    Each run is named after the test and, unless given a ``sqlite_path``, stores its rows in
    ``fleet-<n>.sqlite`` under ``directory``.
    """

    __slots__ = ("_runs",)

    def __init__(self, broker_url: str, directory: Path, name: str, source: str) -> None:
        super().__init__(broker_url, directory, name, source)
        self._runs = 0

    def __call__(self, **kwargs: Any) -> Report:
        """Run a fleet, blocking until it is done; see :func:`simulator.harness.run_fleet`."""
        from simulator.harness import run_fleet

        return run_fleet(self.broker_url, **self._settings(kwargs))

    async def run_async(self, **kwargs: Any) -> Report:
        """Run a fleet in the running loop; see :func:`simulator.harness.run_fleet_async`."""
        from simulator.harness import run_fleet_async

        return await run_fleet_async(self.broker_url, **self._settings(kwargs))

    def _settings(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        self._runs += 1
        defaults = {
            "name": self.name,
            "source": self.source,
            "sqlite_path": self.directory / f"fleet-{self._runs}.sqlite",
        }
        return {**defaults, **kwargs}


@pytest.fixture
def factory_fleet(
    factory_broker: BrokerEndpoint, tmp_path: Path, request: pytest.FixtureRequest
) -> FleetFactory:
    """Run a simulated fleet against ``factory_broker``: ``factory_fleet(devices=50)``."""
    return FleetFactory.for_test(factory_broker, tmp_path, request)


class SouthboundFleet:
    """A started southbound fleet and its gateway check; what ``factory_southbound`` returns.

    :attr:`hint_path` is the gateway hint to configure the gateway under test from,
    :attr:`broker_url` the broker it publishes to; :meth:`report` stops serving and checking
    and returns the report (its ``gateway`` section is what the check found).
    """

    __slots__ = ("_check", "broker_url", "hint_path")

    def __init__(self, check: SouthboundCheck) -> None:
        self._check = check
        self.hint_path = check.hint_path
        """The gateway hint file (JSON): endpoints, unit ids, register maps."""
        self.broker_url = check.broker_url
        """The broker the check listens on."""

    @property
    def received(self) -> int:
        """Messages the check has received from the gateway so far."""
        return self._check.received

    def report(self) -> Report:
        """Stop serving and checking; the report, as a :class:`~simulator.harness.Report`."""
        from simulator.harness import Report

        return Report(self._check.stop())

    def close(self) -> None:
        """Stop, if the test did not."""
        if self._check.running:
            self._check.stop()


class SouthboundFactory(_RunsOfATest):
    """Starts southbound fleets for one test; what ``factory_southbound`` is.

    ``factory_southbound(devices=20, model="cnc-machine", gateway={...}, southbound={...})``
    builds a scenario (``scenario`` gives a whole one as a dict, as ``tomllib`` reads a file;
    any other keyword is a table or top-level key laid over it), serves it on ports the system
    picks and returns a started :class:`SouthboundFleet`. Bad values raise ``ScenarioError``.
    """

    __slots__ = ("_started",)

    def __init__(self, broker_url: str, directory: Path, name: str, source: str) -> None:
        super().__init__(broker_url, directory, name, source)
        self._started: list[SouthboundFleet] = []

    def __call__(
        self,
        *,
        devices: int = 10,
        model: str = "cnc-machine",
        interval_s: float = 1.0,
        scenario: dict[str, Any] | None = None,
        **tables: Any,
    ) -> SouthboundFleet:
        """Serve a fleet and check the gateway's output; see the class."""
        from simulator.harness import _merged
        from simulator.northbound.harness import SouthboundCheck
        from simulator.scenario import validate_scenario

        data: dict[str, Any] = {
            "name": self.name,
            "duration_s": 3600.0,
            "fleet": {"devices": devices, "model": model, "publish_interval_s": interval_s},
            "southbound": {"port": 0, "opcua": {"port": 0}},
        }
        data = _merged(_merged(data, scenario or {}), tables)
        built = validate_scenario(data, self.source)
        number = len(self._started) + 1
        hint_path = self.directory / f"southbound-{number}.json"
        check = SouthboundCheck(built, self.broker_url, hint_path)
        check.start()
        fleet = SouthboundFleet(check)
        self._started.append(fleet)
        return fleet

    def close(self) -> None:
        """Stop every fleet still serving."""
        for fleet in self._started:
            fleet.close()


@pytest.fixture
def factory_southbound(
    factory_broker: BrokerEndpoint, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[SouthboundFactory]:
    """Serve simulated Modbus TCP (or OPC UA) devices and check a gateway's output on
    ``factory_broker``:
    ``factory_southbound(devices=20, gateway={"topic": "plant/{device}/data"})``."""
    factory = SouthboundFactory.for_test(factory_broker, tmp_path, request)
    try:
        yield factory
    finally:
        factory.close()


def scenario_name(test_name: str) -> str:
    """A valid scenario name made from a test's name.

    ``test_x[5 devices]`` becomes ``test_x-5-devices``.
    """
    cleaned = _NAME_UNSAFE.sub("-", test_name).strip("-")[:_NAME_MAX]
    return cleaned or "pytest"
