"""The ``[thresholds]`` table: checked up front, its problems reported with all the others."""

from __future__ import annotations

from pathlib import Path

from simulator.report.thresholds import parse_thresholds
from simulator.scenario import Scenario, load_scenario, validate_scenario
from tests.unit.scenario.conftest import Problems, WriteScenario


def table(scenario: Scenario) -> dict[str, str]:
    """The thresholds as the scenario file wrote them (how a resolved scenario shows them)."""
    shown: dict[str, str] = scenario.model_dump()["thresholds"]
    return shown


BASE = """
duration_s = 5
[fleet]
devices = 10
publish_interval_s = 1.0
"""


def test_no_table_means_no_thresholds(write_scenario: WriteScenario) -> None:
    assert load_scenario(write_scenario(BASE)).thresholds == ()


def test_thresholds_load_as_written(write_scenario: WriteScenario) -> None:
    text = BASE + '[thresholds]\n"latency_ms.p99" = "< 50"\n"messages.lost" = "==0"\n'
    scenario = load_scenario(write_scenario(text))
    assert table(scenario) == {"latency_ms.p99": "< 50", "messages.lost": "== 0"}  # as parsed


def test_unquoted_dotted_keys_name_the_same_report_path(write_scenario: WriteScenario) -> None:
    text = BASE + '[thresholds]\nlatency_ms.p99 = "< 50"\n[thresholds.throughput]\n'
    text += 'ingested_per_s = ">= 1e4"\n'
    scenario = load_scenario(write_scenario(text))
    assert table(scenario) == {
        "latency_ms.p99": "< 50",
        "throughput.ingested_per_s": ">= 1e4",
    }


def test_loaded_thresholds_are_parsed_once_naming_their_file(
    write_scenario: WriteScenario,
) -> None:
    path = write_scenario(BASE + '[thresholds]\n"onboarding.connect_rate_per_s" = ">= 5000"\n')
    [threshold] = load_scenario(path).thresholds
    assert (threshold.key, threshold.op, threshold.limit, threshold.source) == (
        "onboarding.connect_rate_per_s",
        ">=",
        5000.0,
        str(path),
    )
    assert [threshold] == parse_thresholds([("onboarding.connect_rate_per_s >= 5000", str(path))])


def test_every_bad_threshold_is_reported_with_the_other_problems(
    problems: Problems, write_scenario: WriteScenario
) -> None:
    text = """
duration_s = -1
[fleet]
devices = 10
publish_interval_s = 1.0
[thresholds]
"latency_ms.p99" = "< 50"
"latency_ms.p999" = "< 50"
"messages.lost" = "<< 0"
"scenario" = "== 1"
"latency_ms.p50" = "< nan"
"latency_ms.p90" = "<"
"""
    found = problems(text)
    by_path = {p.path: p.message for p in found}
    assert set(by_path) == {
        "duration_s",
        "thresholds.latency_ms.p999",
        "thresholds.messages.lost",
        "thresholds.scenario",
        "thresholds.latency_ms.p50",
        "thresholds.latency_ms.p90",
    }
    assert {p.source for p in found} == {str(write_scenario(text))}
    assert "did you mean latency_ms.p99" in by_path["thresholds.latency_ms.p999"]
    assert "'<<'" in by_path["thresholds.messages.lost"]
    assert "is not a number" in by_path["thresholds.scenario"]
    assert "finite number" in by_path["thresholds.latency_ms.p50"]
    assert "no limit" in by_path["thresholds.latency_ms.p90"]


def test_a_threshold_that_is_not_a_string_is_named(problems: Problems) -> None:
    [problem] = problems(BASE + '[thresholds]\n"messages.lost" = 0\n')
    assert problem.path == "thresholds.messages.lost"
    assert 'must be a string holding an operator and a limit, e.g. "< 50"' in problem.message
    assert problem.message.endswith("got integer 0")


def test_thresholds_that_are_not_a_table_are_named(problems: Problems) -> None:
    [problem] = problems(BASE.replace("duration_s = 5", 'duration_s = 5\nthresholds = "p99<5"'))
    assert problem.path == "thresholds"
    assert "must be a table" in problem.message
    assert "got string 'p99<5'" in problem.message


def test_an_expression_with_several_faults_gives_a_problem_for_each(problems: Problems) -> None:
    found = problems(BASE + '[thresholds]\n"latency_ms.p999" = "<< abc"\n')
    assert [p.path for p in found] == ["thresholds.latency_ms.p999"] * 3


def test_validate_scenario_checks_thresholds_too() -> None:
    data = {
        "duration_s": 5,
        "fleet": {"devices": 10, "publish_interval_s": 1.0},
        "thresholds": {"messages.lost": "== 0"},
    }
    assert table(validate_scenario(data, "<test>", default_name="t")) == {"messages.lost": "== 0"}


def test_quickstart_carries_generous_thresholds() -> None:
    path = Path(__file__).resolve().parents[3] / "scenarios" / "quickstart.toml"
    assert table(load_scenario(path)) == {
        "messages.lost": "== 0",
        "latency_ms.p99": "< 1000",
    }
