"""Topic filter matching, as a broker does it (MQTT 5 section 4.7)."""

from __future__ import annotations


def matches(topic_filter: str, topic: str) -> bool:
    """Whether ``topic`` matches ``topic_filter`` (``+`` one level, ``#`` the rest).

    A shared subscription's ``$share/<group>/`` prefix is not part of the filter; strip it
    first. Topics starting with ``$`` match no filter starting with a wildcard.
    """
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    levels = topic.split("/")
    parts = topic_filter.split("/")
    for i, part in enumerate(parts):
        if part == "#":
            return True
        if i >= len(levels):
            return False
        if part not in ("+", levels[i]):
            return False
    return len(parts) == len(levels)
