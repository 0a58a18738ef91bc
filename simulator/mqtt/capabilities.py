"""What a connection relies on, checked against what the broker's CONNACK allows.

Every connection we open (the fleet's, the ingest worker's, the provisioning responder's)
asks the same questions of the same :class:`~.options.BrokerLimits`, so a broker that lacks
something is refused, or worked around, in the same words whoever meets it. Each check
returns None when the broker allows it, or one line that names the CONNACK property that
says it does not, to follow "the broker at HOST:PORT"; the caller adds who it is and what
the user can do (a flag to change, a fallback taken). Pure: no I/O, nothing remembered.
"""

from __future__ import annotations

from .options import BrokerLimits
from .properties import NO_PROPERTIES, Properties

SHARE_PREFIX = "$share/"


def qos_missing(limits: BrokerLimits, qos: int, setting: str) -> str | None:
    """Whether ``setting`` (naming where ``qos`` comes from) asks more than Maximum QoS."""
    if qos <= limits.maximum_qos:
        return None
    return f"allows at most QoS {limits.maximum_qos} (CONNACK Maximum QoS) but {setting} is {qos}"


def retain_missing(limits: BrokerLimits, setting: str) -> str | None:
    """Whether ``setting`` (a retained message) needs what Retain Available 0 refuses."""
    if limits.retain_available:
        return None
    return f"has no retained messages (CONNACK Retain Available 0) but {setting} is true"


def shared_missing(limits: BrokerLimits) -> str | None:
    """Whether the broker refuses ``$share/`` subscriptions (Shared Subscription Available 0)."""
    if limits.shared_subscription_available:
        return None
    return "has no shared subscriptions (CONNACK Shared Subscription Available 0)"


def subscription_missing(
    limits: BrokerLimits, topic_filter: str, properties: Properties = NO_PROPERTIES
) -> str | None:
    """What a SUBSCRIBE to ``topic_filter`` (with ``properties``) needs that the broker lacks."""
    plain = topic_filter
    if topic_filter.startswith(SHARE_PREFIX):
        shared = shared_missing(limits)
        if shared is not None:
            return f"{shared} but {topic_filter!r} is one"
        plain = topic_filter.split("/", 2)[2] if topic_filter.count("/") >= 2 else ""
    if not limits.wildcard_subscription_available and any(
        level in {"+", "#"} for level in plain.split("/")
    ):
        return (
            f"has no wildcard subscriptions (CONNACK Wildcard Subscription Available 0) "
            f"but {topic_filter!r} has a wildcard"
        )
    if properties.subscription_identifiers and not limits.subscription_identifier_available:
        return (
            f"has no subscription identifiers (CONNACK Subscription Identifier Available 0) "
            f"but the subscription to {topic_filter!r} carries one"
        )
    return None
