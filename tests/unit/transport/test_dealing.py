"""Dealing connections over brokers and source addresses: a pure function of the index that
gives every (source, broker) pair its share and agrees between a fleet and its slices."""

from __future__ import annotations

from collections import Counter

import pytest

from simulator.errors import InvalidArgumentError
from simulator.transport.dealing import Dealing

BROKERS = (("127.0.0.1", 1001), ("127.0.0.1", 1002))


def test_connection_i_goes_to_broker_i_mod_k() -> None:
    dealing = Dealing((*BROKERS, ("127.0.0.1", 1003)))
    assert [dealing.broker(i)[1] for i in range(7)] == [1001, 1002, 1003, 1001, 1002, 1003, 1001]
    assert [dealing.source(i) for i in range(3)] == [None, None, None]


@pytest.mark.parametrize(("brokers", "sources"), [(1, 1), (2, 2), (2, 4), (3, 2), (4, 6), (5, 3)])
def test_every_pair_gets_its_share(brokers: int, sources: int) -> None:
    dealing = Dealing(
        tuple(("127.0.0.1", 1000 + b) for b in range(brokers)),
        tuple(f"127.0.0.{2 + s}" for s in range(sources)),
    )
    connections = 1_000
    pairs = Counter((dealing.source(i), dealing.broker(i)) for i in range(connections))
    assert len(pairs) == brokers * sources
    assert max(pairs.values()) == dealing.per_pair(connections)
    assert max(pairs.values()) - min(pairs.values()) <= 1
    per_broker = Counter(dealing.broker(i) for i in range(connections))
    assert max(per_broker.values()) == dealing.per_broker(connections)


@pytest.mark.parametrize("count", [2, 3, 4])
def test_slices_agree_with_the_whole_fleet(count: int) -> None:
    whole = Dealing(BROKERS, ("127.0.0.2", "127.0.0.3", "127.0.0.4"))
    connections = 101
    for first in range(count):
        part = Dealing(whole.brokers, whole.sources, first, count)
        local = range(len(range(first, connections, count)))
        assert [(part.broker(j), part.source(j)) for j in local] == [
            (whole.broker(i), whole.source(i)) for i in range(first, connections, count)
        ]


@pytest.mark.parametrize(
    ("brokers", "sources", "first", "step"),
    [((), (None,), 0, 1), (BROKERS, (), 0, 1), (BROKERS, (None,), -1, 1), (BROKERS, (None,), 0, 0)],
)
def test_an_empty_or_backwards_dealing_is_refused(
    brokers: tuple[tuple[str, int], ...], sources: tuple[str | None, ...], first: int, step: int
) -> None:
    with pytest.raises(InvalidArgumentError):
        Dealing(brokers, sources, first, step)
