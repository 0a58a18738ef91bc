"""The skeleton the regime-driven models share: state names from the chain, whole cycles."""

from __future__ import annotations

import sys

import pytest

from simulator.fleet import get_model, model_names
from simulator.fleet.regime import Chain, Regime
from simulator.fleet.regime_model import RegimeModel, state_signals, whole_cycles

IDLE, RUN, OFF = range(3)
CHAIN = Chain(
    (
        Regime("idle", 60.0, 10.0, ((RUN, 1.0),)),
        Regime("running", 60.0, 10.0, ((IDLE, 1.0),)),
        Regime("idle", 1.0, 1.0),
    ),
    rest=OFF,
    start=IDLE,
    initial=(0.5, 0.5),
)


def test_state_names_are_the_regimes_names_once_each_in_order() -> None:
    assert CHAIN.names == ("idle", "running", "idle")
    assert CHAIN.state_names == ("idle", "running")
    signals = state_signals(CHAIN, {})
    assert list(signals) == ["state"]
    assert signals["state"].choices == ("idle", "running")


def test_every_equipment_model_reports_its_chains_states() -> None:
    models = [get_model(name) for name in model_names()]
    equipment = [model for model in models if isinstance(model, RegimeModel)]
    assert len(equipment) == len(models) - 1  # all but machine-sensor
    for model in equipment:
        assert model.chain is sys.modules[type(model).__module__].CHAIN
        assert next(iter(model.signals)) == "state"
        assert model.signals["state"].choices == model.chain.state_names


def test_every_equipment_model_has_streams_of_its_own() -> None:
    equipment = [get_model(name) for name in model_names()]
    tags = [model.model_tag for model in equipment if isinstance(model, RegimeModel)]
    assert len(set(tags)) == len(tags)


@pytest.mark.parametrize(
    ("at", "until", "cycle_s", "most", "expected"),
    [
        (100.0, 400.0, 60.0, None, (5, 400.0)),  # fits exactly
        (100.0, 390.0, 60.0, None, (4, 340.0)),  # ends on the last whole cycle
        (100.0, 130.0, 60.0, None, (1, 160.0)),  # a started cycle is finished
        (100.0, 400.0, 60.0, 3, (3, 280.0)),  # capped (a tool's remaining life)
    ],
)
def test_running_regimes_end_on_a_whole_cycle(
    at: float, until: float, cycle_s: float, most: int | None, expected: tuple[int, float]
) -> None:
    assert whole_cycles(at, until, cycle_s, most) == expected
