"""Topic filter matching: the MQTT 5 specification's examples (4.7) and a reference matcher."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.mqtt.topics import TopicFilter, matches


@pytest.mark.parametrize(
    ("topic_filter", "topic"),
    [
        # 4.7.1.2 multi-level wildcard
        ("sport/tennis/player1/#", "sport/tennis/player1"),
        ("sport/tennis/player1/#", "sport/tennis/player1/ranking"),
        ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon"),
        ("sport/#", "sport"),
        ("#", "sport/tennis/player1"),
        ("#", "/"),
        # 4.7.1.3 single-level wildcard
        ("sport/tennis/+", "sport/tennis/player1"),
        ("sport/tennis/+", "sport/tennis/player2"),
        ("sport/+", "sport/"),
        ("+/+", "/finance"),
        ("/+", "/finance"),
        ("+/tennis/#", "sport/tennis/player1/ranking"),
        ("sport/+/player1", "sport/tennis/player1"),
        ("+", "sport"),
        # 4.7.2 topics beginning with $
        ("$SYS/#", "$SYS/broker/clients"),
        ("$SYS/#", "$SYS"),
        ("$SYS/monitor/+", "$SYS/monitor/Clients"),
        ("$SYS/monitor/Clients", "$SYS/monitor/Clients"),
        # plain names
        ("factory/site-01/ms-1/telemetry", "factory/site-01/ms-1/telemetry"),
        ("/", "/"),
        ("a//b", "a//b"),
    ],
)
def test_matching_examples(topic_filter: str, topic: str) -> None:
    assert matches(topic_filter, topic)


@pytest.mark.parametrize(
    ("topic_filter", "topic"),
    [
        ("sport/tennis/+", "sport/tennis/player1/ranking"),
        ("sport/tennis/player1/#", "sport/tennis/player2"),
        ("sport/tennis/player1/#", "sport/tennis"),
        ("sport/+", "sport"),
        ("+", "/finance"),
        ("+", "sport/tennis"),
        ("sport/tennis", "sport/tennis/player1"),
        ("sport/tennis/player1", "sport/tennis"),
        ("ACCOUNTS", "Accounts"),
        ("sport/tennis/#", "sport/tennisplayer"),
        ("sport/tennis/#", "sport/tenni"),
        # 4.7.2: a filter starting with a wildcard matches no topic starting with $
        ("#", "$SYS/broker/clients"),
        ("#", "$SYS"),
        ("+/monitor/Clients", "$SYS/monitor/Clients"),
        ("+", "$SYS"),
        ("$SYS/#", "SYS/broker"),
        ("$SYS/#", "$OTHER/broker"),
    ],
)
def test_not_matching_examples(topic_filter: str, topic: str) -> None:
    assert not matches(topic_filter, topic)


def test_a_dollar_inside_a_topic_is_an_ordinary_character() -> None:
    assert matches("+/$x", "a/$x")
    assert matches("a/#", "a/$SYS")
    assert matches("#", "a$")


def reference(topic_filter: str, topic: str) -> bool:
    """The same rules as a regular expression over the whole topic."""
    if topic.startswith("$") and topic_filter[0] in "+#":
        return False
    levels = topic_filter.split("/")
    multi = levels[-1] == "#"
    if multi:
        levels = levels[:-1]
    pattern = "/".join("[^/]*" if level == "+" else re.escape(level) for level in levels)
    if multi:
        # "a/#" also matches the parent "a"; a lone "#" matches anything.
        pattern = pattern + "(?:/.*)?" if levels else ".*"
    return re.fullmatch(pattern, topic, flags=re.DOTALL) is not None


topic_level = st.sampled_from(["a", "b", "ab", "", "$s", "$"])
topics = st.lists(topic_level, min_size=1, max_size=4).map("/".join).filter(bool)
filter_level = st.sampled_from(["a", "b", "ab", "", "$s", "+"])
filters = st.builds(
    lambda levels, multi: "/".join([*levels, "#"] if multi else levels),
    st.lists(filter_level, min_size=0, max_size=4),
    st.booleans(),
).filter(bool)


def test_reference_agrees_with_the_examples() -> None:
    assert reference("sport/tennis/player1/#", "sport/tennis/player1")
    assert reference("sport/#", "sport")
    assert reference("+/+", "/finance")
    assert not reference("+", "/finance")
    assert not reference("sport/+", "sport")
    assert not reference("#", "$SYS/x")
    assert reference("#", "x")


@given(topic_filter=filters, topic=topics)
def test_matches_agrees_with_a_regex_reference(topic_filter: str, topic: str) -> None:
    assert matches(topic_filter, topic) is reference(topic_filter, topic)


@given(topic=topics)
def test_a_topic_used_as_its_own_filter_matches_itself(topic: str) -> None:
    assert matches(topic, topic)


@given(topic=topics)
def test_hash_matches_every_topic_not_starting_with_dollar(topic: str) -> None:
    assert matches("#", topic) is (not topic.startswith("$"))


@given(topic_filter=filters, topic=topics)
def test_a_compiled_filter_agrees_with_the_regex_reference(topic_filter: str, topic: str) -> None:
    assert TopicFilter(topic_filter).matches(topic) is reference(topic_filter, topic)
