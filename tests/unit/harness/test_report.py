"""The harness without a broker: reading reports, building scenarios, refusing misuse."""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from simulator.errors import HarnessError, ReportKeyError, ScenarioError, SimulatorError
from simulator.harness import Report, ReportSection, run_fleet, run_fleet_async, scenario_data
from simulator.pytest_plugin import scenario_name
from simulator.report.json_report import CONTRACT_KEYS
from simulator.scenario import validate_scenario
from tests.reports import built_report


def make_report(*, connected: int = 50, unique: int = 400, published: int = 400) -> dict[str, Any]:
    """A QoS 0 run of 50 devices, ``connected`` of them (the rest refused), that published
    ``published`` messages in 2 s of which ingest stored ``unique``, in two samples."""
    return built_report(
        latency_us=[800, 1200, 2500],
        unique=unique,
        scenario="gw",
        devices_target=50,
        devices_connected=connected,
        devices_failed=50 - connected,
        failures={"refused": 50 - connected} if connected < 50 else {},
        published=published,
        acked=0,
        window_s=2.0,
        timeseries=[{"t": 1.0, "published": 200}, {"t": 2.0, "published": 400}],
    )


def test_attributes_read_nested_tables_and_leave_values_as_stored() -> None:
    raw = make_report()
    report = Report(raw)

    assert report.devices.connected == 50
    assert report.messages.lost == 0
    assert report.latency_ms.p99 == raw["latency_ms"]["p99"]
    assert report.onboarding.connect_ms.p50 == raw["onboarding"]["connect_ms"]["p50"]
    assert report.scenario == "gw"
    assert report.timeseries is raw["timeseries"]
    assert isinstance(report.messages, ReportSection)
    assert report.raw is raw
    assert report.messages.raw is raw["messages"]


def test_dotted_paths_read_the_same_values_and_index_lists() -> None:
    report = Report(make_report())

    for key in CONTRACT_KEYS:
        path_value = report[key]
        attribute_value: Any = report
        for part in key.split("."):
            attribute_value = getattr(attribute_value, part)
        assert path_value == attribute_value
    assert report["timeseries.1.published"] == 400
    assert report.onboarding["connect_ms.p99"] == report["onboarding.connect_ms.p99"]
    assert report["messages"] == report.raw["messages"]


def test_a_missing_key_names_where_it_looked_and_what_exists() -> None:
    report = Report(make_report())

    with pytest.raises(ReportKeyError) as by_attribute:
        _ = report.messages.lostt
    assert str(by_attribute.value).startswith("messages has no key 'lostt'; it has: acked,")
    assert "lost," in str(by_attribute.value)

    with pytest.raises(ReportKeyError, match=r"^the report has no key 'latency'"):
        report["latency.p99"]
    with pytest.raises(ReportKeyError, match=r"^messages.lost is 0, which has no key 'x'"):
        report["messages.lost.x"]
    with pytest.raises(ReportKeyError, match=r"^timeseries has 2 items, no item 5"):
        report["timeseries.5"]
    with pytest.raises(ReportKeyError, match=r"^onboarding.connect_ms has no key 'p90'"):
        _ = report.onboarding.connect_ms.p90


def test_a_missing_key_is_a_key_error_an_attribute_error_and_ours() -> None:
    report = Report(make_report())

    with pytest.raises(KeyError):
        report["nope"]
    with pytest.raises(AttributeError):
        _ = report.nope
    with pytest.raises(SimulatorError):
        _ = report.nope
    assert not hasattr(report, "nope")
    assert getattr(report.messages, "nope", "default") == "default"
    assert report.get("latency_ms.p75") is None
    assert report.get("latency_ms.p75", -1) == -1
    assert report.get("devices.target") == 50
    assert "messages.lost" in report
    assert "messages.lostt" not in report
    assert 5 not in report


def test_private_names_are_never_looked_up_as_keys() -> None:
    report = Report({"_secret": 1, "a": {"b": 2}})

    with pytest.raises(AttributeError):
        _ = report._secret
    assert report["_secret"] == 1
    # copy and pickle probe private and dunder names; they must see ordinary misses.
    assert copy.deepcopy(report) == report
    assert pickle.loads(pickle.dumps(report)).a.b == 2


def test_sections_compare_like_their_dicts_iterate_their_keys_and_list_them() -> None:
    report = Report(make_report())

    assert report.throughput == {"published_per_s": 200.0, "ingested_per_s": 200.0}
    assert report.throughput != {"published_per_s": 200.0, "ingested_per_s": 201.0}
    assert report.throughput == Report(make_report()).throughput
    assert report.throughput != 3
    assert list(report.throughput) == ["published_per_s", "ingested_per_s"]
    assert len(report.latency_ms) == 4
    assert {"messages", "latency_ms", "problems", "raw"} <= set(dir(report))
    with pytest.raises(TypeError):
        hash(report.throughput)


def test_the_repr_shows_what_a_failed_assertion_needs() -> None:
    report = Report(make_report(connected=48, unique=390, published=400))

    assert repr(report) == (
        "<Report gw: devices 48/50 connected, 2 failed; messages 400 published, 390 ingested, "
        f"10 lost, 0 duplicated; latency p99 {report.latency_ms.p99} ms>"
    )
    assert repr(report.broker) == (
        "<report broker: {'url': 'mqtt://127.0.0.1:1883', 'urls': ['mqtt://127.0.0.1:1883'], "
        "'mqtt_version': '5'}>"
    )
    assert repr(Report({"odd": 1})) == "<Report {'odd': 1}>"


def test_problems_say_why_a_run_failed() -> None:
    healthy = Report(make_report())
    failing = Report(make_report(connected=48, unique=390, published=400))

    assert healthy.ok
    assert healthy.problems == []
    assert not failing.ok
    assert failing.problems == [
        "2 of 50 devices failed to onboard (2 refused)",
        "10 of 400 messages were lost",
    ]
    assert "devices     48/50 connected, 2 failed" in failing.summary()


def test_a_report_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    raw = make_report()
    path.write_text(json.dumps(raw), encoding="utf-8")

    assert Report.load(path).raw == raw
    assert Report.load(str(path)).messages.published == 400


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read a report from"), ("{not json", "cannot read"), ("[1]", "JSON list")],
)
def test_a_report_file_that_is_not_a_report_is_refused(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "run.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")

    with pytest.raises(HarnessError, match=message):
        Report.load(path)


def test_scenario_data_lays_scenario_then_broker_then_tables_over_the_named_arguments() -> None:
    base = {"fleet": {"devices": 1000, "qos": 1}, "broker": {"url": "mqtt://elsewhere"}}
    untouched = copy.deepcopy(base)

    data = scenario_data(
        "mqtt://127.0.0.1:1883",
        devices=10,
        interval_s=0.25,
        scenario=base,
        onboarding={"rate_per_s": 500.0},
        fleet={"qos": 0},
        seed=7,
    )

    assert data["fleet"]["devices"] == 1000  # the scenario's value beats the named default
    assert data["fleet"]["publish_interval_s"] == 0.25  # kept where the scenario is silent
    assert data["fleet"]["qos"] == 0  # a table keyword beats the scenario
    assert data["broker"] == {"mqtt_version": "5", "url": "mqtt://127.0.0.1:1883"}
    assert data["onboarding"] == {"rate_per_s": 500.0}
    assert data["seed"] == 7
    assert base == untouched
    scenario = validate_scenario(data, "<test>")
    assert scenario.fleet.devices == 1000
    assert scenario.seed == 7


def test_scenario_data_leaves_out_what_was_not_given() -> None:
    data = scenario_data("mqtt://h:1", ingest=False)

    assert "topic" not in data["fleet"]
    assert data["ingest"] == {"enabled": False}
    scenario = validate_scenario(data, "<test>")
    assert scenario.name == "harness"
    assert scenario.fleet.devices == 100
    assert scenario.duration_s == 3.0


def test_bad_arguments_are_every_problem_at_once_before_anything_connects() -> None:
    # Port 1 on loopback has no broker: reaching it would be a ConnectError, not this.
    with pytest.raises(ScenarioError) as caught:
        run_fleet(
            "mqtt://127.0.0.1:1",
            devices=0,
            payload="xml",
            onboarding={"rate": 5},
            source="test_x.py::test_y",
        )

    problems = {(p.source, p.path) for p in caught.value.problems}
    assert problems == {
        ("test_x.py::test_y", "fleet.devices"),
        ("test_x.py::test_y", "fleet.payload"),
        ("test_x.py::test_y", "onboarding.rate"),
    }


async def test_the_blocking_runner_refuses_to_run_inside_an_event_loop() -> None:
    with pytest.raises(HarnessError, match="await run_fleet_async"):
        run_fleet("mqtt://127.0.0.1:1", devices=1)
    with pytest.raises(ScenarioError):
        await run_fleet_async("mqtt://127.0.0.1:1", devices=-1)


@pytest.mark.parametrize(
    ("test_name", "expected"),
    [
        ("test_gateway", "test_gateway"),
        ("test_x[5 devices-3.1.1]", "test_x-5-devices-3.1.1"),
        ("test_" + "a" * 80, "test_" + "a" * 59),
        ("[]", "pytest"),
    ],
)
def test_scenario_names_from_test_names_are_valid(test_name: str, expected: str) -> None:
    name = scenario_name(test_name)

    assert name == expected
    assert validate_scenario(scenario_data("mqtt://h:1", name=name), "<test>").name == name
