"""The capability checks every connection shares: one line naming the CONNACK property."""

from __future__ import annotations

from simulator.mqtt import Properties
from simulator.mqtt.capabilities import (
    qos_missing,
    retain_missing,
    shared_missing,
    subscription_missing,
)
from simulator.mqtt.options import DEFAULT_LIMITS, limits_from_connack


def test_absent_availability_properties_mean_available() -> None:
    limits = limits_from_connack(Properties(receive_maximum=10))
    assert limits.wildcard_subscription_available
    assert limits.subscription_identifier_available
    assert limits.shared_subscription_available
    assert DEFAULT_LIMITS.shared_subscription_available  # 3.1.1 brokers state nothing


def test_a_connack_saying_0_turns_each_availability_off() -> None:
    limits = limits_from_connack(
        Properties(
            wildcard_subscription_available=0,
            subscription_identifier_available=0,
            shared_subscription_available=0,
        )
    )
    assert not limits.wildcard_subscription_available
    assert not limits.subscription_identifier_available
    assert not limits.shared_subscription_available
    assert limits is limits_from_connack(
        Properties(
            wildcard_subscription_available=0,
            subscription_identifier_available=0,
            shared_subscription_available=0,
        )
    ), "equal limits are one shared object"


def test_qos_and_retain_name_the_setting_and_the_property() -> None:
    limits = limits_from_connack(Properties(maximum_qos=1, retain_available=0))
    assert qos_missing(limits, 1, "fleet.qos") is None
    assert qos_missing(limits, 2, "fleet.qos") == (
        "allows at most QoS 1 (CONNACK Maximum QoS) but fleet.qos is 2"
    )
    assert retain_missing(limits, "fleet.will.retain") == (
        "has no retained messages (CONNACK Retain Available 0) but fleet.will.retain is true"
    )
    assert retain_missing(DEFAULT_LIMITS, "fleet.will.retain") is None


def test_a_shared_subscription_needs_shared_subscription_available() -> None:
    limits = limits_from_connack(Properties(shared_subscription_available=0))
    assert shared_missing(limits) == (
        "has no shared subscriptions (CONNACK Shared Subscription Available 0)"
    )
    assert subscription_missing(limits, "$share/ingest/factory/#") == (
        "has no shared subscriptions (CONNACK Shared Subscription Available 0) "
        "but '$share/ingest/factory/#' is one"
    )
    assert subscription_missing(limits, "factory/#") is None


def test_a_wildcard_anywhere_needs_wildcard_subscription_available() -> None:
    limits = limits_from_connack(Properties(wildcard_subscription_available=0))
    for wildcard in ("factory/#", "onboarding/+/register", "+", "$share/ingest/a/+/b"):
        problem = subscription_missing(limits, wildcard)
        assert problem is not None
        assert "(CONNACK Wildcard Subscription Available 0)" in problem
        assert repr(wildcard) in problem
    for plain in ("factory/site-1/line-1", "a+b/c#", "$share/group+/a/b"):
        assert subscription_missing(limits, plain) is None, plain


def test_a_subscription_identifier_needs_subscription_identifier_available() -> None:
    limits = limits_from_connack(Properties(subscription_identifier_available=0))
    with_id = Properties(subscription_identifiers=(7,))
    assert subscription_missing(limits, "a/b") is None
    problem = subscription_missing(limits, "a/b", with_id)
    assert problem is not None
    assert "(CONNACK Subscription Identifier Available 0)" in problem
    assert subscription_missing(DEFAULT_LIMITS, "a/b", with_id) is None
