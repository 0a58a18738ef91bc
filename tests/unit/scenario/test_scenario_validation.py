"""Schema validation: every kind of problem is found, located and explained, all at once."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from simulator.errors import ScenarioError, ScenarioProblem
from simulator.fleet import model_names
from simulator.payloads import codec_names
from simulator.scenario import Scenario, load_scenario, validate_scenario
from tests.unit.scenario.conftest import MINIMAL, Problems, WriteScenario


def only(found: list[ScenarioProblem]) -> ScenarioProblem:
    """The single problem found, failing with the whole list otherwise."""
    assert len(found) == 1, found
    return found[0]


def test_minimal_scenario_takes_the_documented_defaults(
    write_scenario: WriteScenario,
) -> None:
    scenario = load_scenario(write_scenario(MINIMAL, stem="line-7"))

    assert scenario.name == "line-7"
    assert scenario.seed == 1
    assert (scenario.broker.url, scenario.broker.mqtt_version, scenario.broker.keepalive_s) == (
        None,
        "5",
        60,
    )
    fleet = scenario.fleet
    assert (fleet.model, fleet.payload, fleet.qos) == ("machine-sensor", "msgpack", 0)
    assert fleet.topic == "factory/{site}/{line}/{device}/telemetry"
    assert (fleet.sites, fleet.lines_per_site) == (2, 4)
    onboarding = scenario.onboarding
    assert (onboarding.rate_per_s, onboarding.max_in_flight) == (2000.0, 100)
    assert onboarding.connect_timeout_s == 10.0
    ingest = scenario.ingest
    assert (ingest.enabled, ingest.batch_size, ingest.batch_max_age_ms) == (True, 1000, 250)
    assert ingest.sqlite_path == "runs/line-7.sqlite"
    assert (ingest.drain_timeout_s, ingest.share_group) == (15.0, "ingest")


def test_every_key_can_be_set(write_scenario: WriteScenario) -> None:
    model = model_names()[-1]
    codec = codec_names()[-1]
    text = f"""
name = "custom.run_1"
seed = 0
duration_s = 604800
[broker]
url = "mqtt://10.0.0.5:2883"
mqtt_version = "3.1.1"
keepalive_s = 0
[fleet]
devices = 1000000
model = "{model}"
publish_interval_s = 0.001
payload = "{codec}"
qos = 1
topic = "plant/{{site}}/{{line}}/{{device}}"
sites = 1
lines_per_site = 1
[onboarding]
rate_per_s = 100000
max_in_flight = 10000
connect_timeout_s = 600
[ingest]
enabled = false
batch_size = 100000
batch_max_age_ms = 60000
sqlite_path = "out/x.db"
drain_timeout_s = 3600
share_group = "ingest-2"
"""
    scenario = load_scenario(write_scenario(text))

    assert scenario.name == "custom.run_1"
    assert scenario.seed == 0
    assert scenario.broker.address is not None
    assert (scenario.broker.address.host, scenario.broker.address.port) == ("10.0.0.5", 2883)
    assert scenario.broker.mqtt_version == "3.1.1"
    assert (scenario.fleet.model, scenario.fleet.payload) == (model, codec)
    assert scenario.fleet.qos == 1
    assert scenario.ingest.sqlite_path == "out/x.db"
    assert scenario.ingest.enabled is False


def test_integers_are_accepted_where_floats_are_expected(
    write_scenario: WriteScenario,
) -> None:
    scenario = load_scenario(
        write_scenario("duration_s = 5\n[fleet]\ndevices = 1\npublish_interval_s = 2\n")
    )

    assert scenario.duration_s == 5.0
    assert scenario.fleet.publish_interval_s == 2.0


def test_scenario_is_frozen(write_scenario: WriteScenario) -> None:
    scenario = load_scenario(write_scenario(MINIMAL))

    with pytest.raises(ValidationError):
        scenario.fleet.devices = 5


def test_unknown_top_level_key_lists_the_allowed_keys(problems: Problems) -> None:
    problem = only(problems("durations = 1\n" + MINIMAL))

    assert problem.path == "durations"
    assert problem.message == (
        "unknown key; allowed keys here: name, seed, duration_s, broker, fleet, onboarding, "
        "ingest, southbound, gateway, faults, stages, thresholds"
    )


def test_unknown_nested_key_lists_that_tables_keys(problems: Problems) -> None:
    problem = only(problems(MINIMAL + "devicez = 3\n"))

    assert problem.path == "fleet.devicez"
    assert problem.message == (
        "unknown key; allowed keys here: devices, publish_interval_s, model, payload, qos, "
        "topic, sites, lines_per_site, enterprise, areas_per_site, cells_per_line, will, mix, "
        "devices_per_connection, messages_per_device, sparkplug_group"
    )


def test_unknown_table_is_an_unknown_key(problems: Problems) -> None:
    problem = only(problems(MINIMAL + "[metrics]\nenabled = true\n"))

    assert problem.path == "metrics"
    assert problem.message.startswith("unknown key; allowed keys here: name, seed")


@pytest.mark.parametrize(
    ("extra", "path", "message"),
    [
        ('seed = "7"\n', "seed", "must be an integer >= 0, got string '7'"),
        ("seed = true\n", "seed", "must be an integer >= 0, got boolean true"),
        ("seed = 1.0\n", "seed", "must be an integer >= 0, got float 1"),
        ("name = 12\n", "name", "must be a string, got integer 12"),
        ("broker = 3\n", "broker", "must be a table, got integer 3"),
        ("broker = [1]\n", "broker", "must be a table, got an array"),
        (
            "[broker]\nkeepalive_s = 6e1\n",
            "broker.keepalive_s",
            "must be an integer >= 0 and <= 65535, got float 60",
        ),
        (
            '[ingest]\nenabled = "yes"\n',
            "ingest.enabled",
            "must be true or false, got string 'yes'",
        ),
        ("[ingest]\nenabled = 1\n", "ingest.enabled", "must be true or false, got integer 1"),
        ("[ingest]\nsqlite_path = 0\n", "ingest.sqlite_path", "must be a string, got integer 0"),
        (
            "[onboarding]\nrate_per_s = 1979-05-27\n",
            "onboarding.rate_per_s",
            "must be a number > 0 and <= 100000, got date/time 1979-05-27",
        ),
    ],
)
def test_wrong_types_name_the_expected_type(
    problems: Problems, extra: str, path: str, message: str
) -> None:
    text = extra + MINIMAL if not extra.startswith("[") else MINIMAL + extra
    problem = only(problems(text))

    assert (problem.path, problem.message) == (path, message)


def test_a_quoted_number_is_not_an_integer(problems: Problems) -> None:
    problem = only(problems('duration_s = 5.0\n[fleet]\ndevices = "10"\npublish_interval_s = 1\n'))

    assert problem.path == "fleet.devices"
    assert problem.message == "must be an integer >= 1 and <= 1000000, got string '10'"


@pytest.mark.parametrize(
    ("devices", "interval", "message_devices", "message_interval"),
    [
        ("2000000", "1.0", "must be <= 1000000, got 2000000", None),
        ("0", "1.0", "must be >= 1, got 0", None),
        ("10", "0.0005", None, "must be >= 0.001, got 0.0005"),
        ("10", "86400.5", None, "must be <= 86400, got 86400.5"),
        ("10", "nan", None, "must be a finite number, got nan"),
        ("10", "inf", None, "must be a finite number, got inf"),
    ],
)
def test_out_of_range_values_say_the_limit_and_the_value(
    problems: Problems,
    devices: str,
    interval: str,
    message_devices: str | None,
    message_interval: str | None,
) -> None:
    text = f"duration_s = 5.0\n[fleet]\ndevices = {devices}\npublish_interval_s = {interval}\n"
    problem = only(problems(text))

    if message_devices is not None:
        assert (problem.path, problem.message) == ("fleet.devices", message_devices)
    else:
        assert (problem.path, problem.message) == ("fleet.publish_interval_s", message_interval)


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        ("duration_s = 0\n", "duration_s", "must be > 0, got 0"),
        ("duration_s = 604801\n", "duration_s", "must be <= 604800, got 604801"),
        ("duration_s = -1.5\n", "duration_s", "must be > 0, got -1.5"),
        ("seed = -1\nduration_s = 1\n", "seed", "must be >= 0, got -1"),
    ],
)
def test_top_level_ranges(problems: Problems, text: str, path: str, message: str) -> None:
    fleet = "[fleet]\ndevices = 1\npublish_interval_s = 1\n"
    problem = only(problems(text + fleet))

    assert (problem.path, problem.message) == (path, message)


@pytest.mark.parametrize(
    ("table", "path", "message"),
    [
        ("[broker]\nkeepalive_s = 65536", "broker.keepalive_s", "must be <= 65535, got 65536"),
        ("[broker]\nkeepalive_s = -1", "broker.keepalive_s", "must be >= 0, got -1"),
        ("[fleet.x]", "fleet.x", "unknown key; allowed keys here: devices"),
        ("[onboarding]\nrate_per_s = 0", "onboarding.rate_per_s", "must be > 0, got 0"),
        (
            "[onboarding]\nrate_per_s = 100001",
            "onboarding.rate_per_s",
            "must be <= 100000, got 100001",
        ),
        ("[onboarding]\nmax_in_flight = 0", "onboarding.max_in_flight", "must be >= 1, got 0"),
        (
            "[onboarding]\nmax_in_flight = 10001",
            "onboarding.max_in_flight",
            "must be <= 10000, got 10001",
        ),
        (
            "[onboarding]\nconnect_timeout_s = 601",
            "onboarding.connect_timeout_s",
            "must be <= 600, got 601",
        ),
        ("[ingest]\nbatch_size = 0", "ingest.batch_size", "must be >= 1, got 0"),
        ("[ingest]\nbatch_size = 100001", "ingest.batch_size", "must be <= 100000, got 100001"),
        ("[ingest]\nbatch_max_age_ms = 0", "ingest.batch_max_age_ms", "must be >= 1, got 0"),
        (
            "[ingest]\nbatch_max_age_ms = 60001",
            "ingest.batch_max_age_ms",
            "must be <= 60000, got 60001",
        ),
        ("[ingest]\ndrain_timeout_s = 0", "ingest.drain_timeout_s", "must be > 0, got 0"),
        (
            "[ingest]\ndrain_timeout_s = 3601",
            "ingest.drain_timeout_s",
            "must be <= 3600, got 3601",
        ),
    ],
)
def test_nested_ranges(problems: Problems, table: str, path: str, message: str) -> None:
    problem = only(problems(MINIMAL + table + "\n"))

    assert problem.path == path
    assert problem.message.startswith(message)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("mqtt_version", '"4"', "must be '3.1.1' or '5', got string '4'"),
        ("mqtt_version", "5", "must be '3.1.1' or '5', got integer 5"),
        ("mqtt_version", "3.1", "must be '3.1.1' or '5', got float 3.1"),
    ],
)
def test_bad_mqtt_version(problems: Problems, key: str, value: str, message: str) -> None:
    problem = only(problems(f"{MINIMAL}[broker]\n{key} = {value}\n"))

    assert (problem.path, problem.message) == (f"broker.{key}", message)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("3", "must be 0, 1 or 2, got 3"),
        ("-1", "must be 0, 1 or 2, got -1"),
        ("true", "must be an integer, got boolean true"),
    ],
)
def test_bad_qos(problems: Problems, value: str, message: str) -> None:
    problem = only(problems(f"{MINIMAL}qos = {value}\n"))

    assert (problem.path, problem.message) == ("fleet.qos", message)


def test_unknown_model_lists_the_known_ones(problems: Problems) -> None:
    problem = only(problems(MINIMAL + 'model = "toaster"\n'))

    assert problem.path == "fleet.model"
    assert problem.message == f"must be one of {', '.join(model_names())}; got 'toaster'"


def test_unknown_payload_lists_the_known_codecs(problems: Problems) -> None:
    problem = only(problems(MINIMAL + 'payload = "xml"\n'))

    assert problem.path == "fleet.payload"
    assert problem.message == f"must be one of {', '.join(codec_names())}; got 'xml'"


@pytest.mark.parametrize(
    "url",
    ["ftp://broker:8883", "tcp://broker", "mqtt://broker:70000", "mqtt://:1883", "broker"],
)
def test_bad_broker_url(problems: Problems, url: str) -> None:
    problem = only(problems(f'{MINIMAL}[broker]\nurl = "{url}"\n'))

    assert problem.path == "broker.url"
    assert repr(url) in problem.message


def test_mqtts_and_credentials_are_accepted(write_scenario: WriteScenario) -> None:
    path = write_scenario(f'{MINIMAL}[broker]\nurl = "mqtts://dev:pw@broker:8883"\n')
    address = load_scenario(path).broker.address
    assert address is not None
    assert (address.scheme, address.username, address.password) == ("mqtts", "dev", "pw")


@pytest.mark.parametrize(
    "topic",
    ["factory/+/{device}/telemetry", "factory/#", "factory/{site}/{nope}/{device}"],
)
def test_bad_topic_template(problems: Problems, topic: str) -> None:
    problem = only(problems(f'{MINIMAL}topic = "{topic}"\n'))

    assert problem.path == "fleet.topic"
    assert repr(topic) in problem.message


@pytest.mark.parametrize("group", ["", "a/b", "in+gest", "#"])
def test_bad_share_group(problems: Problems, group: str) -> None:
    problem = only(problems(f'{MINIMAL}[ingest]\nshare_group = "{group}"\n'))

    assert problem.path == "ingest.share_group"
    assert problem.message == f"must be non-empty and contain none of '/', '+', '#', got {group!r}"


@pytest.mark.parametrize("name", ["", "has space", "a/b", "x" * 65, "ünïcode"])
def test_bad_name(problems: Problems, name: str) -> None:
    problem = only(problems(f'name = "{name}"\n{MINIMAL}'))

    assert problem.path == "name"
    assert problem.message == (
        f"must be 1 to 64 characters from a-z, A-Z, 0-9, '.', '_' and '-', got {name!r}"
    )


def test_a_bad_file_stem_as_default_name_says_where_the_name_came_from(
    write_scenario: WriteScenario,
) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write_scenario(MINIMAL, stem="my run"))

    (problem,) = caught.value.problems
    assert problem.path == "name"
    assert "got 'my run'" in problem.message
    assert "taken from the file name" in problem.message


def test_missing_required_keys_and_tables(problems: Problems) -> None:
    found = {p.path: p.message for p in problems("[fleet]\npublish_interval_s = 1\n")}

    assert found == {
        "duration_s": "required key is missing; expected a number > 0 and <= 604800",
        "fleet.devices": "required key is missing; expected an integer >= 1 and <= 1000000",
    }
    found = {p.path: p.message for p in problems("duration_s = 1\n")}
    assert found == {"fleet": "required key is missing; expected a table"}


def test_several_problems_are_reported_together(write_scenario: WriteScenario) -> None:
    text = """
seeed = 3
duration_s = -1
[broker]
url = "ftp://broker"
mqtt_version = "4"
[fleet]
devices = "10"
publish_interval_s = 0
qos = 3
colour = "red"
[ingest]
batch_size = 0
"""
    path = write_scenario(text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)

    problems = caught.value.problems
    assert sorted(p.path for p in problems) == [
        "broker.mqtt_version",
        "broker.url",
        "duration_s",
        "fleet.colour",
        "fleet.devices",
        "fleet.publish_interval_s",
        "fleet.qos",
        "ingest.batch_size",
        "seeed",
    ]
    assert {p.source for p in problems} == {str(path)}
    rendered = str(caught.value)
    assert rendered.startswith("9 problems in scenario:")
    assert f"{path}: fleet.devices: must be an integer" in rendered


def test_validate_scenario_takes_parsed_data_without_changing_it() -> None:
    data = {"name": "direct", "duration_s": 1, "fleet": {"devices": 3, "publish_interval_s": 1}}

    scenario = validate_scenario(data, "<dict>")

    assert scenario == Scenario.model_validate(data)
    assert data == {
        "name": "direct",
        "duration_s": 1,
        "fleet": {"devices": 3, "publish_interval_s": 1},
    }
