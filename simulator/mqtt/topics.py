"""Topic filter matching, as a broker does it (MQTT 5 section 4.7)."""

from __future__ import annotations


def matches(topic_filter: str, topic: str) -> bool:
    """Whether ``topic`` matches ``topic_filter`` (``+`` one level, ``#`` the rest).

    A shared subscription's ``$share/<group>/`` prefix is not part of the filter; strip it
    first. Topics starting with ``$`` match no filter starting with a wildcard. To test many
    topics against one filter, use :class:`TopicFilter`.
    """
    return _match(topic_filter.split("/"), topic)


class TopicFilter:
    """One filter, split once, for matching a stream of topics (ingest routes every message).

    Topics that do not start with the filter's literal levels are turned away by one
    ``startswith``, so a filter that matches few of the topics costs the others next to nothing.
    """

    __slots__ = ("_parts", "_prefix", "text")

    def __init__(self, topic_filter: str) -> None:
        self.text = topic_filter
        self._parts = topic_filter.split("/")
        literal: list[str] = []
        for part in self._parts:
            if part in ("+", "#"):
                break
            literal.append(part)
        self._prefix = "/".join(literal)

    def matches(self, topic: str) -> bool:
        """Whether ``topic`` matches this filter (see :func:`matches`)."""
        return topic.startswith(self._prefix) and _match(self._parts, topic)


def _match(parts: list[str], topic: str) -> bool:
    if topic.startswith("$") and parts[0] in ("+", "#"):
        return False
    levels = topic.split("/")
    for i, part in enumerate(parts):
        if part == "#":
            return True
        if i >= len(levels):
            return False
        if part not in ("+", levels[i]):
            return False
    return len(parts) == len(levels)
