"""The five plant levels: enterprise, site, area, line and cell, their dealing and their topics."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from operator import attrgetter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.errors import PlantLayoutError, TopicTemplateError
from simulator.fleet import DeviceIdentity, PlantLayout, TopicTemplate
from simulator.fleet.plant import DEFAULT_ENTERPRISE

Level = Callable[[DeviceIdentity], object]
"""Names one member of a plant level: an area is only unique with its site, a cell with its line."""

SITE: Level = attrgetter("site")
AREA: Level = attrgetter("site", "area")
LINE: Level = attrgetter("site", "line")
CELL: Level = attrgetter("site", "line", "cell")


def spread(layout: PlantLayout, count: int, level: Level) -> Counter[object]:
    """How many of the first ``count`` devices sit in each member of ``level``."""
    return Counter(level(layout.identity(index)) for index in range(count))


def test_defaults_keep_the_two_level_plant() -> None:
    identity = PlantLayout(3, 4, "ms").identity(42)

    assert identity == DeviceIdentity("ms-000042", "site-01", "line-03")
    assert identity == DeviceIdentity(
        "ms-000042", "site-01", "line-03", DEFAULT_ENTERPRISE, "area-01", "cell-01"
    )
    assert DEFAULT_ENTERPRISE == "acme"


@given(
    sites=st.integers(1, 12),
    lines=st.integers(1, 12),
    index=st.integers(0, 2_000_000),
)
def test_one_area_and_one_cell_place_devices_as_before(sites: int, lines: int, index: int) -> None:
    # The placement earlier versions computed, written out independently.
    slot = index % (sites * lines)
    site_width = max(2, len(str(sites)))
    line_width = max(2, len(str(lines)))

    identity = PlantLayout(sites, lines, "ms").identity(index)

    assert identity.site == f"site-{slot % sites + 1:0{site_width}d}"
    assert identity.line == f"line-{slot // sites + 1:0{line_width}d}"
    assert (identity.area, identity.cell) == ("area-01", "cell-01")


def test_devices_are_dealt_site_then_line_then_cell() -> None:
    layout = PlantLayout(2, 2, areas_per_site=2, cells_per_line=2)

    placed = [
        (i.site, i.area, i.line, i.cell) for i in (layout.identity(index) for index in range(9))
    ]

    assert placed == [
        ("site-01", "area-01", "line-01", "cell-01"),
        ("site-02", "area-01", "line-01", "cell-01"),
        ("site-01", "area-02", "line-02", "cell-01"),
        ("site-02", "area-02", "line-02", "cell-01"),
        ("site-01", "area-01", "line-01", "cell-02"),
        ("site-02", "area-01", "line-01", "cell-02"),
        ("site-01", "area-02", "line-02", "cell-02"),
        ("site-02", "area-02", "line-02", "cell-02"),
        ("site-01", "area-01", "line-01", "cell-01"),
    ]


def test_lines_are_numbered_within_the_site_and_dealt_to_areas_in_turn() -> None:
    layout = PlantLayout(1, 5, areas_per_site=2)

    area_of = {i.line: i.area for i in (layout.identity(index) for index in range(5))}

    assert area_of == {
        "line-01": "area-01",
        "line-02": "area-02",
        "line-03": "area-01",
        "line-04": "area-02",
        "line-05": "area-01",
    }


@pytest.mark.parametrize(
    ("sites", "areas", "lines", "cells"),
    [(3, 2, 4, 3), (2, 3, 6, 1), (5, 1, 7, 2), (1, 4, 4, 5)],
)
def test_every_prefix_of_the_fleet_covers_the_plant_evenly(
    sites: int, areas: int, lines: int, cells: int
) -> None:
    layout = PlantLayout(sites, lines, areas_per_site=areas, cells_per_line=cells)
    leaves = sites * lines * cells

    for count in (leaves, 2 * leaves + 1, 3 * leaves - 1, 1000):
        for level, members in (
            (SITE, sites),
            (AREA, sites * areas),
            (LINE, sites * lines),
            (CELL, leaves),
        ):
            per_member = spread(layout, count, level)
            assert len(per_member) == members
            # Lines divide evenly into areas in every case here, so each level is even.
            assert max(per_member.values()) - min(per_member.values()) <= 1


def test_the_first_devices_reach_every_site_before_any_site_gets_two() -> None:
    layout = PlantLayout(4, 3, areas_per_site=3, cells_per_line=2)

    assert len(spread(layout, 4, SITE)) == 4
    assert len(spread(layout, 3, SITE)) == 3
    assert len(spread(layout, 12, AREA)) == 12
    assert len(spread(layout, 24, CELL)) == 24


def test_uneven_areas_still_give_every_line_its_share() -> None:
    layout = PlantLayout(1, 5, areas_per_site=2)

    per_line = spread(layout, 50, LINE)
    per_area = spread(layout, 50, AREA)

    assert set(per_line.values()) == {10}
    assert per_area == Counter({("site-01", "area-01"): 30, ("site-01", "area-02"): 20})


def test_numbers_widen_for_big_levels_and_ids_stay_unique() -> None:
    layout = PlantLayout(2, 150, areas_per_site=120, cells_per_line=100)
    identities = [layout.identity(index) for index in range(2 * 150 * 100)]

    assert identities[0].area == "area-001"
    assert identities[0].line == "line-001"
    assert identities[0].cell == "cell-001"
    assert identities[-1].cell == "cell-100"
    assert {i.area for i in identities} == {f"area-{n:03d}" for n in range(1, 121)}
    assert len({i.device_id for i in identities}) == len(identities)


def test_the_enterprise_is_every_devices() -> None:
    layout = PlantLayout(3, 2, enterprise="globex.eu")

    assert {layout.identity(index).enterprise for index in range(50)} == {"globex.eu"}


@pytest.mark.parametrize(
    ("kwargs", "complaint"),
    [
        ({"areas_per_site": 0}, "areas_per_site must be a whole number"),
        ({"areas_per_site": True}, "areas_per_site must be a whole number"),
        ({"cells_per_line": 0}, "cells_per_line must be a whole number"),
        ({"cells_per_line": 1.0}, "cells_per_line must be a whole number"),
        ({"areas_per_site": 5}, r"areas_per_site must be at most lines_per_site \(4\)"),
        ({"enterprise": ""}, "enterprise must be 1-64"),
        ({"enterprise": "a/b"}, "enterprise must be 1-64"),
        ({"enterprise": "a+b"}, "enterprise must be 1-64"),
        ({"enterprise": "#"}, "enterprise must be 1-64"),
        ({"enterprise": "a b"}, "enterprise must be 1-64"),
        ({"enterprise": "x" * 65}, "enterprise must be 1-64"),
        ({"enterprise": 7}, "enterprise must be 1-64"),
    ],
)
def test_bad_hierarchies_are_refused(kwargs: dict[str, object], complaint: str) -> None:
    with pytest.raises(PlantLayoutError, match=complaint):
        PlantLayout(2, 4, **kwargs)  # type: ignore[arg-type]


def test_a_bad_hierarchy_reports_every_problem() -> None:
    with pytest.raises(PlantLayoutError) as info:
        PlantLayout(1, 1, "ms", "", 0, 0)
    message = str(info.value)

    for name in ("areas_per_site", "cells_per_line", "enterprise"):
        assert name in message


def test_the_area_check_waits_for_valid_sizes() -> None:
    # With lines_per_site invalid, comparing areas to it would only add a confusing problem.
    with pytest.raises(PlantLayoutError) as info:
        PlantLayout(1, 0, areas_per_site=3)

    assert "at most" not in str(info.value)


def test_every_level_renders_into_a_topic() -> None:
    layout = PlantLayout(2, 4, "cnc", enterprise="globex", areas_per_site=2, cells_per_line=3)
    template = TopicTemplate("{enterprise}/{site}/{area}/{line}/{cell}/{model}/{device}")

    assert template.render(layout.identity(0), "cnc-machine") == (
        "globex/site-01/area-01/line-01/cell-01/cnc-machine/cnc-000000"
    )
    assert template.render(layout.identity(11), "cnc-machine") == (
        "globex/site-02/area-02/line-02/cell-02/cnc-machine/cnc-000011"
    )


def test_the_default_topic_ignores_the_new_levels() -> None:
    layout = PlantLayout(2, 4, "ms", enterprise="globex", areas_per_site=2, cells_per_line=3)

    assert TopicTemplate().render(layout.identity(11), "machine-sensor") == (
        "factory/site-02/line-02/ms-000011/telemetry"
    )


@pytest.mark.parametrize("name", ["enterprise", "area", "cell"])
def test_new_placeholders_take_no_format_spec(name: str) -> None:
    with pytest.raises(TopicTemplateError, match="no format spec"):
        TopicTemplate(f"f/{{{name}:>4}}/{{device}}")
