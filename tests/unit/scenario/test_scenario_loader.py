"""The loader: unreadable files, TOML syntax errors, and command-line overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.errors import ScenarioError, ScenarioProblem
from simulator.scenario import OVERRIDE_TARGETS, Overrides, load_scenario, validate_scenario
from tests.unit.scenario.conftest import MINIMAL, WriteScenario


def load_problems(path: Path, overrides: Overrides | None = None) -> tuple[ScenarioProblem, ...]:
    """Problems raised loading ``path``, failing if it loads."""
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path, overrides)
    return caught.value.problems


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"

    (problem,) = load_problems(path)

    assert problem == ScenarioProblem(str(path), "<file>", "no such file")


def test_directory_instead_of_file(tmp_path: Path) -> None:
    (problem,) = load_problems(tmp_path)

    assert problem.path == "<file>"
    assert problem.message == "is a directory, not a scenario file"


def test_source_is_the_path_as_given(
    write_scenario: WriteScenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_scenario(MINIMAL + "qos = 3\n")
    monkeypatch.chdir(path.parent)

    (problem,) = load_problems(Path(path.name))

    assert problem.source == path.name


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('name = "caf\u00e9"\n'.encode("latin-1"))

    (problem,) = load_problems(path)

    assert problem.path == "<file>"
    assert problem.message == "not UTF-8 text (TOML must be): byte 11 is invalid"


def test_toml_syntax_error_names_line_and_column(write_scenario: WriteScenario) -> None:
    path = write_scenario("duration_s = 5.0\n[fleet]\ndevices = \npublish_interval_s = 1\n")

    (problem,) = load_problems(path)

    assert problem.source == str(path)
    assert problem.path == "line 3, column 11"
    assert problem.message.startswith("invalid TOML: ")
    assert "(at line" not in problem.message


def test_toml_error_at_end_of_document(write_scenario: WriteScenario) -> None:
    (problem,) = load_problems(write_scenario('name = "unterminated'))

    assert problem.path == "end of document"
    assert problem.message.startswith("invalid TOML: ")


def test_duplicate_key_is_a_toml_error(write_scenario: WriteScenario) -> None:
    (problem,) = load_problems(write_scenario("duration_s = 1\nduration_s = 2\n"))

    assert problem.path.startswith("line 2, column")


def test_overrides_replace_file_values(write_scenario: WriteScenario) -> None:
    overrides = Overrides(
        devices=250,
        interval_s=0.5,
        duration_s=3,
        broker_url="mqtt://127.0.0.1:2883",
        mqtt_version="3.1.1",
    )

    scenario = load_scenario(write_scenario(MINIMAL), overrides)

    assert scenario.fleet.devices == 250
    assert scenario.fleet.publish_interval_s == 0.5
    assert scenario.duration_s == 3.0
    assert scenario.broker.url == "mqtt://127.0.0.1:2883"
    assert scenario.broker.mqtt_version == "3.1.1"


def test_unset_overrides_keep_file_values(write_scenario: WriteScenario) -> None:
    scenario = load_scenario(write_scenario(MINIMAL), Overrides())

    assert scenario.fleet.devices == 10
    assert scenario.duration_s == 5.0


@pytest.mark.parametrize(
    ("overrides", "flag", "path", "says"),
    [
        (Overrides(devices=2_000_000), "--devices", "fleet.devices", "must be <= 1000000"),
        (Overrides(devices=0), "--devices", "fleet.devices", "must be >= 1, got 0"),
        (Overrides(interval_s=0.0), "--interval", "fleet.publish_interval_s", "must be >= 0.001"),
        (Overrides(duration_s=-1.0), "--duration", "duration_s", "must be > 0, got -1"),
        (Overrides(broker_url="ftp://b"), "--broker", "broker.url", "must be mqtt or mqtts"),
        (Overrides(mqtt_version="4"), "--mqtt", "broker.mqtt_version", "'3.1.1' or '5'"),
    ],
)
def test_bad_override_names_the_flag(
    write_scenario: WriteScenario, overrides: Overrides, flag: str, path: str, says: str
) -> None:
    (problem,) = load_problems(write_scenario(MINIMAL), overrides)

    assert (problem.source, problem.path) == (flag, path)
    assert says in problem.message


def test_override_problems_and_file_problems_are_reported_together(
    write_scenario: WriteScenario,
) -> None:
    path = write_scenario(MINIMAL + "qos = 5\n")

    problems = load_problems(path, Overrides(devices=-3))

    assert {(p.source, p.path) for p in problems} == {
        ("--devices", "fleet.devices"),
        (str(path), "fleet.qos"),
    }


def test_override_fixes_a_bad_file_value(write_scenario: WriteScenario) -> None:
    scenario = load_scenario(
        write_scenario(MINIMAL.replace("devices = 10", "devices = 0")), Overrides(devices=7)
    )

    assert scenario.fleet.devices == 7


def test_override_creates_a_missing_table() -> None:
    data = {"name": "n", "duration_s": 1, "fleet": {"devices": 1, "publish_interval_s": 1}}

    scenario = validate_scenario(data, "<dict>", Overrides(broker_url="mqtt://h:1999"))

    assert scenario.broker.address is not None
    assert scenario.broker.address.port == 1999
    assert "broker" not in data


def test_override_under_a_value_that_is_not_a_table_reports_the_file_value() -> None:
    data = {"name": "n", "duration_s": 1, "broker": 3, "fleet": {"devices": 1}}

    with pytest.raises(ScenarioError) as caught:
        validate_scenario(data, "f.toml", Overrides(broker_url="mqtt://h", interval_s=1.0))

    assert [(p.source, p.path) for p in caught.value.problems] == [("f.toml", "broker")]


def test_every_override_field_has_a_flag_and_a_target() -> None:
    assert set(OVERRIDE_TARGETS) == set(Overrides.__dataclass_fields__)
    flags = [flag for flag, _ in OVERRIDE_TARGETS.values()]
    assert all(flag.startswith("--") for flag in flags)
    assert len(set(flags)) == len(flags)
