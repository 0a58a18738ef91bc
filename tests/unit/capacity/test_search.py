"""The capacity search: grow while steps hold, bisect once one breaks, stop within precision."""

from __future__ import annotations

import pytest

from simulator.capacity import CapacitySearch


def search_with_knee(search: CapacitySearch, knee: float) -> list[float]:
    """Drive ``search`` against a platform that holds every load up to ``knee``."""
    while (load := search.next()) is not None:
        search.record(load, load <= knee)
    return search.tried


def test_it_grows_then_bisects_to_within_the_precision() -> None:
    search = CapacitySearch(1000.0)
    tried = search_with_knee(search, knee=5300.0)
    assert tried[:4] == [1000.0, 2000.0, 4000.0, 8000.0]
    assert len(tried) <= 8
    assert search.held is not None
    assert search.broke is not None
    assert search.held <= 5300.0 < search.broke
    assert (search.broke - search.held) <= 0.10 * search.broke


@pytest.mark.parametrize("knee", [130.0, 999.0, 1000.0, 3100.0, 7777.0, 64000.0])
def test_the_answer_is_within_ten_percent_of_the_knee_in_eight_steps(knee: float) -> None:
    search = CapacitySearch(1000.0)
    tried = search_with_knee(search, knee)
    assert len(tried) <= 8
    if search.broke is not None and search.held is not None:
        assert search.held <= knee < search.broke
        assert search.held >= 0.9 * knee or len(tried) == 8


def test_a_first_step_that_breaks_makes_it_shrink() -> None:
    search = CapacitySearch(1000.0)
    tried = search_with_knee(search, knee=300.0)
    assert tried[:3] == [1000.0, 500.0, 250.0]
    assert search.held is not None
    assert search.held <= 300.0


def test_devices_are_whole_and_the_search_ends_when_no_whole_number_is_left() -> None:
    search = CapacitySearch(40.0, whole=True)
    tried = search_with_knee(search, knee=100.0)
    assert all(load == int(load) for load in tried)
    assert tried[:3] == [40.0, 80.0, 160.0]
    assert search.held == 100.0
    assert search.broke is not None
    assert search.broke - search.held <= 0.10 * search.broke


def test_it_never_takes_more_steps_than_allowed() -> None:
    search = CapacitySearch(1.0, max_steps=3)
    assert search_with_knee(search, knee=1e9) == [1.0, 2.0, 4.0]
