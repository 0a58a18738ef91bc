"""The fleet's hooks are built once from the scenario, in the order the fleet calls them."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import pytest

from simulator.engine.deaths import Deaths
from simulator.engine.devices import drop_reason
from simulator.engine.edge_node import EdgeNodes
from simulator.engine.fleet import Fleet, FleetOptions
from simulator.engine.hooks import AdmitAtConnack
from simulator.engine.onboarding import Registrar
from simulator.errors import InvalidArgumentError, RemoteProtocolError
from simulator.metrics.funnel import CONNECT_STAGES, REGISTER_STAGES
from simulator.scenario import validate_scenario
from simulator.transport.endpoint import Endpoint
from tests.unit.engine.fake_loop import FakeLoop


def fleet_of(fleet: dict[str, Any], onboarding: dict[str, Any] | None = None) -> Fleet:
    scenario = validate_scenario(
        {
            "name": "hooks",
            "duration_s": 1.0,
            "fleet": {"publish_interval_s": 1.0, **fleet},
            "onboarding": onboarding or {},
            "ingest": {"enabled": False},
        },
        "<test>",
    )
    loop = cast(asyncio.AbstractEventLoop, FakeLoop())
    return Fleet(scenario, Endpoint("127.0.0.1", 1883), loop=loop, wall_ns=time.time_ns)


def test_the_connect_workflow_admits_at_connack_and_nothing_else() -> None:
    fleet = fleet_of({"devices": 4})
    (hook,) = fleet.links.hooks
    assert isinstance(hook, AdmitAtConnack)
    assert (fleet.registrar, fleet.deaths, fleet.edges) == (None, None, None)
    assert tuple(fleet.funnel.to_dict()) == CONNECT_STAGES
    assert fleet.links.reconnects is not None  # the scenario's default policy


def test_register_with_sparkplug_and_plain_devices_calls_edges_registrar_deaths() -> None:
    fleet = fleet_of(
        {
            "devices": 6,
            "mix": [
                {"model": "cnc-machine", "count": 3, "payload": "sparkplug"},
                {"model": "robot", "share": 1.0},
            ],
        },
        {"workflow": "register", "reconnect": False},
    )
    edges, registrar, deaths = fleet.links.hooks
    assert isinstance(edges, EdgeNodes)
    assert isinstance(registrar, Registrar)
    assert isinstance(deaths, Deaths)
    assert (fleet.edges, fleet.registrar, fleet.deaths) == (edges, registrar, deaths)
    assert tuple(fleet.funnel.to_dict()) == REGISTER_STAGES
    assert fleet.links.reconnects is None


def test_only_a_hook_that_claims_acks_is_asked_per_puback() -> None:
    assert fleet_of({"devices": 2}).links._ack_claimers == ()
    registering = fleet_of({"devices": 2}, {"workflow": "register"})
    assert registering.links._ack_claimers == (registering.registrar,)


def test_fleet_options_refuse_fewer_than_one() -> None:
    with pytest.raises(InvalidArgumentError, match="messages_per_device must be >= 1, got 0"):
        FleetOptions(messages_per_device=0)
    with pytest.raises(InvalidArgumentError, match="devices_per_connection must be >= 1, got 0"):
        FleetOptions(devices_per_connection=0)


def test_a_drop_is_counted_by_why_it_happened_without_naming_the_connection() -> None:
    assert drop_reason(None) == "closed by the broker"
    assert drop_reason(ConnectionResetError(104, "Connection reset by peer")) == (
        "Connection reset by peer"
    )
    silent = RemoteProtocolError("gw-00042: the broker sent nothing for 1.5 x its keepalive")
    assert drop_reason(silent) == "the broker sent nothing for 1.5 x its keepalive"
    assert drop_reason(RemoteProtocolError("malformed packet: 0x00")) == "malformed packet: 0x00"
