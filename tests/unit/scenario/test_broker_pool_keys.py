"""``[broker] urls / instances / cluster`` and ``[onboarding] source_addresses``: the pool
parser's expansions and refusals, and each bad value named by its key."""

from __future__ import annotations

import re

import pytest

from simulator.scenario import Overrides
from simulator.scenario.addresses import MAX_POOL, parse_address_pool
from tests.unit.scenario.conftest import MINIMAL, Problems, WriteScenario


@pytest.mark.parametrize(
    ("entries", "pool"),
    [
        (["127.0.0.2"], ("127.0.0.2",)),
        (["127.0.0.2-127.0.0.4"], ("127.0.0.2", "127.0.0.3", "127.0.0.4")),
        (["127.0.0.9", "127.0.0.2-127.0.0.3"], ("127.0.0.9", "127.0.0.2", "127.0.0.3")),
        (["127.0.0.255-127.0.1.0"], ("127.0.0.255", "127.0.1.0")),
        (["10.0.0.7-10.0.0.7"], ("10.0.0.7",)),
        (["::1", "fd00::1-fd00::2"], ("::1", "fd00::1", "fd00::2")),
    ],
)
def test_entries_expand_in_the_order_written(entries: list[str], pool: tuple[str, ...]) -> None:
    assert parse_address_pool(entries) == pool


@pytest.mark.parametrize(
    ("entries", "says"),
    [
        ([], "at least one address"),
        (["127.0.0.300"], "expected an IP address or a range FIRST-LAST"),
        (["localhost"], "got 'localhost'"),
        (
            ["127.0.0.5-127.0.0.2"],
            "from its lower address to its higher, got '127.0.0.5-127.0.0.2'",
        ),
        (["127.0.0.1-::5"], "both ends of a range must be IPv4 or both IPv6"),
        (["127.0.0.2", "127.0.0.1-127.0.0.3"], "'127.0.0.2' appears twice"),
        (["10.0.0.0-10.1.0.0"], f"holds 65,537 addresses; a pool may hold {MAX_POOL:,}"),
    ],
)
def test_bad_entries_say_what_is_wrong(entries: list[str], says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        parse_address_pool(entries)


def test_a_bad_source_address_names_the_key_and_the_value(problems: Problems) -> None:
    found = problems(MINIMAL + '[onboarding]\nsource_addresses = ["127.0.0.2-127.0.0.x"]\n')
    assert [problem.path for problem in found] == ["onboarding.source_addresses"]
    assert "'127.0.0.2-127.0.0.x'" in found[0].message


def test_source_addresses_are_kept_and_expanded(write_scenario: WriteScenario) -> None:
    from simulator.scenario import load_scenario

    path = write_scenario(MINIMAL + '[onboarding]\nsource_addresses = ["127.0.0.2-127.0.0.3"]\n')
    assert load_scenario(path).onboarding.source_pool == ("127.0.0.2", "127.0.0.3")


def test_urls_give_every_address_in_order(write_scenario: WriteScenario) -> None:
    from simulator.scenario import load_scenario

    text = MINIMAL + '[broker]\nurls = ["mqtt://a:1884", "mqtt://b"]\n'
    broker = load_scenario(write_scenario(text)).broker
    assert [(a.host, a.port) for a in broker.addresses] == [("a", 1884), ("b", 1883)]
    assert broker.address == broker.addresses[0]


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ('urls = ["mqtt://a", "http://b"]', "entry 1: scheme must be mqtt or mqtts, got 'http'"),
        ('urls = ["mqtt://a", "mqtts://b"]', "in scheme or credentials"),
        ('urls = ["mqtt://u:p@a", "mqtt://b"]', "in scheme or credentials"),
        ("urls = []", "must list 1 to 64 broker URLs, got 0"),
        ('url = "mqtt://a"\nurls = ["mqtt://b"]', "give url (one broker) or urls"),
        ('url = "mqtt://a"\ninstances = 2', "instances = 2 starts local brokers"),
        ("cluster = true", "give urls"),
        ("instances = 0", "must be >= 1, got 0"),
        ("instances = 65", "must be <= 64, got 65"),
    ],
)
def test_bad_broker_pools_are_refused(problems: Problems, table: str, says: str) -> None:
    found = problems(MINIMAL + f"[broker]\n{table}\n")
    assert len(found) == 1, found
    assert found[0].path.startswith("broker")
    assert says in found[0].message


def test_broker_on_the_command_line_replaces_the_files_pool(write_scenario: WriteScenario) -> None:
    from simulator.scenario import load_scenario

    text = MINIMAL + '[broker]\nurls = ["mqtt://a", "mqtt://b"]\ncluster = true\n'
    scenario = load_scenario(write_scenario(text), Overrides(broker_url="mqtt://c:1"))
    assert [(a.host, a.port) for a in scenario.broker.addresses] == [("c", 1)]
    assert not scenario.broker.cluster


def test_registrations_over_several_brokers_need_ingest(problems: Problems) -> None:
    text = (
        MINIMAL
        + "[broker]\ninstances = 2\n[ingest]\nenabled = false\n"
        + '[onboarding]\nworkflow = "register"\n'
    )
    found = problems(text)
    assert [problem.path for problem in found] == ["ingest.enabled"]
    assert "over 2 brokers needs ingest" in found[0].message
