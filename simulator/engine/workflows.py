"""The fleet's connection hooks, built once from the scenario.

Which workflows a fleet runs follows from its scenario alone: the Sparkplug edge nodes when
any group uses the Sparkplug payload; the registrar with ``[onboarding] workflow =
"register"``, else admission at CONNACK; deaths for the register workflow's plain
connections when it names a death topic. Their order is the order the fleet calls them in:
an NCMD is the edge nodes' before the registrar looks for answers, and an edge node's NDEATH
goes out before the plain deaths (they never share a connection).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from simulator.engine.deaths import Deaths
from simulator.engine.edge_node import EdgeNodes, publishes_sparkplug
from simulator.engine.hooks import AdmitAtConnack, ConnectionHook
from simulator.engine.onboarding import Member, Registrar
from simulator.engine.topology import Topology
from simulator.metrics.funnel import CONNECT_STAGES, Funnel
from simulator.mqtt import MQTTVersion
from simulator.scenario import Scenario
from simulator.transport.connection import MqttLink


@dataclass(frozen=True, slots=True)
class Workflows:
    """The hooks in calling order, and the ones the report reads by name."""

    hooks: tuple[ConnectionHook, ...]
    funnel: Funnel
    """Onboarding stage by stage, in devices (see :mod:`simulator.metrics.funnel`)."""
    registrar: Registrar | None
    """Drives the register workflow (None: devices publish from their CONNACK on)."""
    edges: EdgeNodes | None
    """The Sparkplug B edge nodes (None: no device uses the Sparkplug payload)."""
    deaths: Deaths | None
    """Deaths of the devices of plain connections (``register`` workflow with a death topic;
    None otherwise)."""


def build_workflows(
    scenario: Scenario,
    topology: Topology,
    version: MQTTVersion,
    *,
    admit: Callable[[Member, MqttLink], None],
    loop: asyncio.AbstractEventLoop,
    wall_ns: Callable[[], int],
    run_time_s: Callable[[], float],
) -> Workflows:
    """The workflows ``scenario`` asks for, hooked to ``topology``'s connections."""
    fleet = scenario.fleet
    onboarding = scenario.onboarding
    edges = (
        EdgeNodes(
            topology,
            fleet.sparkplug_group or fleet.enterprise,
            wall_ns=wall_ns,
            run_time_s=run_time_s,
        )
        if publishes_sparkplug(topology)
        else None
    )
    registrar: Registrar | None = None
    admission: ConnectionHook
    if onboarding.workflow == "register":
        admission = registrar = Registrar(
            topology, onboarding, version, admit=admit, loop=loop, wall_ns=wall_ns
        )
        funnel = registrar.funnel
    else:
        admission = AdmitAtConnack(topology.members, admit)
        funnel = Funnel(CONNECT_STAGES)
    deaths: Deaths | None = None
    if registrar is not None and onboarding.death_topic:
        groups = range(len(topology.groups))
        plain = [i for i in groups if edges is None or not edges.covers(i)]
        if plain:
            deaths = Deaths(
                topology, onboarding.death_topic, plain, wills=fleet.will is None, wall_ns=wall_ns
            )
    hooks = tuple(hook for hook in (edges, admission, deaths) if hook is not None)
    return Workflows(hooks, funnel, registrar, edges, deaths)
