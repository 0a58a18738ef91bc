"""Plant layout identities and topic template checks."""

from __future__ import annotations

from collections import Counter

import pytest

from simulator.errors import FleetConfigError, PlantLayoutError, SimulatorError, TopicTemplateError
from simulator.fleet import (
    DEFAULT_TOPIC,
    PLACEHOLDERS,
    DeviceIdentity,
    PlantLayout,
    Signal,
    TopicTemplate,
)


def test_identities_are_readable() -> None:
    layout = PlantLayout(sites=3, lines_per_site=4, id_prefix="ms")
    assert layout.identity(42) == DeviceIdentity("ms-000042", "site-01", "line-03")
    assert layout.identity(0) == DeviceIdentity("ms-000000", "site-01", "line-01")
    assert layout.identity(1_234_567).device_id == "ms-1234567"


def test_devices_are_dealt_round_robin_site_first() -> None:
    layout = PlantLayout(2, 3)
    placed = [(layout.identity(i).site, layout.identity(i).line) for i in range(7)]
    assert placed == [
        ("site-01", "line-01"),
        ("site-02", "line-01"),
        ("site-01", "line-02"),
        ("site-02", "line-02"),
        ("site-01", "line-03"),
        ("site-02", "line-03"),
        ("site-01", "line-01"),
    ]


def test_every_prefix_of_the_fleet_is_spread_evenly() -> None:
    layout = PlantLayout(5, 7)
    for count in (35, 70, 1000):
        per_line = Counter((layout.identity(i).site, layout.identity(i).line) for i in range(count))
        assert len(per_line) == 35
        assert max(per_line.values()) - min(per_line.values()) <= 1


def test_ids_are_unique_and_numbers_widen_for_big_plants() -> None:
    layout = PlantLayout(120, 3)
    identities = [layout.identity(i) for i in range(360)]
    assert len({i.device_id for i in identities}) == 360
    assert identities[119].site == "site-120"
    assert identities[0].site == "site-001"
    assert identities[0].line == "line-01"


@pytest.mark.parametrize(
    ("sites", "lines", "prefix", "complaint"),
    [
        (0, 1, "dev", "sites"),
        (1, 0, "dev", "lines_per_site"),
        (True, 1, "dev", "sites"),
        (2.0, 1, "dev", "sites"),
        (1, 1, "", "id_prefix"),
        (1, 1, "a/b", "id_prefix"),
        (1, 1, "a+", "id_prefix"),
        (1, 1, "x" * 17, "id_prefix"),
    ],
)
def test_bad_layouts_are_refused(sites: object, lines: object, prefix: str, complaint: str) -> None:
    with pytest.raises(PlantLayoutError, match=complaint) as info:
        PlantLayout(sites, lines, prefix)  # type: ignore[arg-type]
    assert isinstance(info.value, FleetConfigError)


def test_bad_layout_reports_every_problem() -> None:
    with pytest.raises(PlantLayoutError) as info:
        PlantLayout(0, -1, "")
    assert all(name in str(info.value) for name in ("sites", "lines_per_site", "id_prefix"))


def test_negative_index_is_refused() -> None:
    with pytest.raises(PlantLayoutError):
        PlantLayout(1, 1).identity(-1)


def test_default_topic_renders() -> None:
    identity = PlantLayout(3, 4, "ms").identity(42)
    assert TopicTemplate().render(identity, "machine-sensor") == (
        "factory/site-01/line-03/ms-000042/telemetry"
    )
    assert TopicTemplate(DEFAULT_TOPIC).template == DEFAULT_TOPIC


def test_every_placeholder_renders_and_may_share_a_level() -> None:
    template = TopicTemplate("plant/{site}-{line}/{model}/{device}")
    identity = DeviceIdentity("ms-000001", "site-02", "line-05")
    assert template.render(identity, "machine-sensor") == (
        "plant/site-02-line-05/machine-sensor/ms-000001"
    )
    assert set(PLACEHOLDERS) == {"site", "line", "device", "model", "enterprise", "area", "cell"}


@pytest.mark.parametrize(
    ("template", "complaint"),
    [
        ("factory/{plant}/{device}", "unknown placeholder {plant}"),
        ("factory/{}/x", "unknown placeholder {}"),
        ("factory/{0}/x", "unknown placeholder {0}"),
        ("factory/{site.name}/x", "unknown placeholder {site.name}"),
        ("factory/{site:>3}/x", "no format spec"),
        ("factory/{site!r}/x", "no format spec"),
        ("factory//{device}", "empty level"),
        ("/factory/{device}", "empty level"),
        ("factory/{device}/", "empty level"),
        ("factory/+/{device}", "wildcard '\\+'"),
        ("factory/#", "'#'"),
        ("factory/a+b/{device}", "wildcard '\\+'"),
        ("$SYS/{device}", "'\\$'"),
        ("factory/\0/{device}", "NUL"),
        ("factory/{device", "unbalanced"),
        ("factory/device}", "unbalanced"),
        ("", "non-empty"),
    ],
)
def test_bad_templates_are_refused(template: str, complaint: str) -> None:
    with pytest.raises(TopicTemplateError, match=complaint) as info:
        TopicTemplate(template)
    assert isinstance(info.value, SimulatorError)


def test_unknown_placeholder_error_names_the_allowed_ones() -> None:
    with pytest.raises(TopicTemplateError) as info:
        TopicTemplate("f/{zone}/{device}")
    message = str(info.value)
    assert "{zone}" in message
    assert all("{" + name + "}" in message for name in PLACEHOLDERS)


def test_template_reports_every_problem_at_once() -> None:
    with pytest.raises(TopicTemplateError) as info:
        TopicTemplate("$x//{station}/#")
    message = str(info.value)
    for complaint in ("{station}", "'#'", "'$'", "empty level"):
        assert complaint in message


def test_signal_accepts_only_its_range_or_choices() -> None:
    numeric = Signal("kW", 0.0, 10.0)
    assert numeric.accepts(0.0)
    assert numeric.accepts(10)
    assert not numeric.accepts(10.5)
    assert not numeric.accepts("5")
    assert not numeric.accepts(True)
    state = Signal("", choices=("on", "off"))
    assert state.accepts("on")
    assert not state.accepts("broken")
    assert not state.accepts(1.0)
