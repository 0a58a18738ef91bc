"""Versions by the names scenarios and the command line give them."""

from __future__ import annotations

from typing import get_args

import pytest

from simulator.errors import InvalidArgumentError
from simulator.mqtt import MQTTVersion
from simulator.scenario.schema import BrokerSettings


def test_each_name_is_its_version() -> None:
    assert MQTTVersion.named("3.1.1") is MQTTVersion.V311
    assert MQTTVersion.named("5") is MQTTVersion.V5


def test_a_name_nobody_gives_is_refused_with_the_names_there_are() -> None:
    with pytest.raises(InvalidArgumentError, match=r"'5\.0'.*'3\.1\.1', '5'"):
        MQTTVersion.named("5.0")


def test_every_name_a_scenario_allows_is_a_version_and_every_version_has_one() -> None:
    names = get_args(BrokerSettings.model_fields["mqtt_version"].annotation)
    assert {MQTTVersion.named(name) for name in names} == set(MQTTVersion)
