"""Broker URLs: what parses, and what each rejection says."""

from __future__ import annotations

import pytest

from simulator.errors import ScenarioError
from simulator.scenario import BrokerAddress, parse_broker_url


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("mqtt://127.0.0.1:1883", BrokerAddress("127.0.0.1", 1883, "mqtt")),
        ("mqtt://broker.local", BrokerAddress("broker.local", 1883, "mqtt")),
        ("mqtt://localhost:1", BrokerAddress("localhost", 1, "mqtt")),
        ("mqtt://localhost:65535/", BrokerAddress("localhost", 65535, "mqtt")),
        ("mqtt://[::1]:2883", BrokerAddress("::1", 2883, "mqtt")),
        ("mqtt://[::1]", BrokerAddress("::1", 1883, "mqtt")),
        ("MQTT://Broker:1884", BrokerAddress("broker", 1884, "mqtt")),
        ("mqtts://broker", BrokerAddress("broker", 8883, "mqtts")),
        ("mqtts://broker:9883", BrokerAddress("broker", 9883, "mqtts")),
        ("mqtt://user:secret@broker", BrokerAddress("broker", 1883, "mqtt", "user", "secret")),
        ("mqtt://dev%40x:p%3Ass@b:1", BrokerAddress("b", 1, "mqtt", "dev@x", "p:ss")),
        ("mqtt://{device}:{device}@b", BrokerAddress("b", 1883, "mqtt", "{device}", "{device}")),
        ("mqtt://only-user@b", BrokerAddress("b", 1883, "mqtt", "only-user", None)),
    ],
)
def test_valid_urls_parse(url: str, address: BrokerAddress) -> None:
    assert parse_broker_url(url) == address


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://broker", "scheme must be mqtt or mqtts, got 'http'"),
        ("broker:1883", "not a URL"),
        ("mqtt://:1883", "host is required"),
        ("mqtt://broker:0", "port must be 1..65535, got 0"),
        ("mqtt://broker:65536", "port must be 1..65535, got 65536"),
        ("mqtt://broker:abc", "port must be an integer 1..65535, got 'abc'"),
        ("mqtt://broker:", "port must be an integer 1..65535, got ''"),
        ("mqtt://:secret@broker", "a password needs a user name"),
        ("mqtt://broker/topic", "no path, query or fragment allowed"),
        ("mqtt://broker?x=1", "no path, query or fragment allowed"),
        ("mqtt://[::1", "not a valid URL"),
    ],
)
def test_invalid_urls_say_what_is_wrong(url: str, says: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_broker_url(url, source="--broker")

    (problem,) = caught.value.problems
    assert problem.source == "--broker"
    assert problem.path == "broker.url"
    assert says in problem.message
    if "secret" in url:
        assert "secret" not in problem.message  # passwords are masked in messages
    else:
        assert repr(url) in problem.message


def test_tls_and_a_url_with_a_masked_password() -> None:
    address = parse_broker_url("mqtts://dev:pw@broker")
    assert address.tls
    assert not parse_broker_url("mqtt://broker").tls
    assert address.url() == "mqtts://dev:***@broker:8883"
    assert address.url(with_password=True) == "mqtts://dev:pw@broker:8883"


def test_default_source_is_the_command_line() -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_broker_url("tcp://broker")

    assert caught.value.problems[0].source == "<command line>"
