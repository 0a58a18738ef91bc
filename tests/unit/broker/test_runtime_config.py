"""The runtime config: listener first, base settings after it, launcher-owned options refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.broker import BASE_CONFIG_NAME, default_config_dir, render_runtime_config
from simulator.errors import BrokerLaunchError

REPO_BASE = Path(__file__).resolve().parents[3] / "broker_config" / BASE_CONFIG_NAME


def _settings(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_listener_line_comes_before_every_base_setting() -> None:
    base = "max_connections -1\nallow_anonymous true\n"

    settings = _settings(render_runtime_config(base, "127.0.0.1", 18883, "base.conf"))

    assert settings == [
        ["listener", "18883", "127.0.0.1"],
        ["max_connections", "-1"],
        ["allow_anonymous", "true"],
    ]


def test_a_unix_socket_listener_comes_before_the_tcp_one() -> None:
    # Mosquitto opens listeners in order: once the TCP port accepts, the socket is bound too;
    # the base file's listener-scoped settings stay with the TCP listener, the last one.
    base = "max_connections -1\n"

    rendered = render_runtime_config(
        base, "127.0.0.1", 18883, "base.conf", socket_path=Path("/tmp/x/mosquitto.sock")
    )

    assert _settings(rendered) == [
        ["listener", "0", "/tmp/x/mosquitto.sock"],
        ["listener", "18883", "127.0.0.1"],
        ["max_connections", "-1"],
    ]


@pytest.mark.parametrize("path", ["relative.sock", "/tmp/a b/mosquitto.sock"])
def test_a_socket_path_mosquitto_would_misread_is_refused(path: str) -> None:
    with pytest.raises(BrokerLaunchError, match="absolute and without spaces"):
        render_runtime_config("", "127.0.0.1", 1, "base.conf", socket_path=Path(path))


def test_base_file_is_copied_verbatim_after_the_listener() -> None:
    base = REPO_BASE.read_text(encoding="utf-8")

    rendered = render_runtime_config(base, "::1", 1883, str(REPO_BASE))

    listener_at = rendered.index("listener 1883 ::1\n")
    assert rendered[listener_at:].endswith(base)


def test_base_without_final_newline_still_ends_with_one() -> None:
    rendered = render_runtime_config("sys_interval 0", "127.0.0.1", 1, "base.conf")

    assert rendered.endswith("\nsys_interval 0\n")


def test_repository_config_sets_the_load_test_essentials() -> None:
    settings = {words[0]: words[1:] for words in _settings(REPO_BASE.read_text(encoding="utf-8"))}

    assert settings["max_connections"] == ["-1"]
    assert settings["persistence"] == ["false"]
    assert settings["allow_anonymous"] == ["true"]
    assert settings["set_tcp_nodelay"] == ["true"]
    assert settings["sys_interval"] == ["0"]
    assert settings["connection_messages"] == ["false"]
    # Mosquitto 2.0 drops QoS 0 messages to an online client past this count;
    # the default of 1000 loses telemetry when the ingest subscriber pauses.
    assert int(settings["max_queued_messages"][0]) >= 100_000


def test_repository_config_defines_no_listener() -> None:
    options = {words[0] for words in _settings(REPO_BASE.read_text(encoding="utf-8"))}

    assert not options & {"listener", "port", "bind_address", "bind_interface"}


@pytest.mark.parametrize("option", ["listener 1883", "port 1883", "  bind_address 0.0.0.0"])
def test_base_that_sets_a_listener_is_refused_with_its_line(option: str) -> None:
    base = f"persistence false\n{option}\n"

    with pytest.raises(BrokerLaunchError, match=r"base\.conf:2: '(listener|port|bind_address)'"):
        render_runtime_config(base, "127.0.0.1", 1883, "base.conf")


def test_commented_listener_is_not_a_listener() -> None:
    rendered = render_runtime_config("# listener 1883\n", "127.0.0.1", 2000, "base.conf")

    assert _settings(rendered) == [["listener", "2000", "127.0.0.1"]]


@pytest.mark.parametrize("port", [0, 65536, -1])
def test_port_out_of_range_is_refused(port: int) -> None:
    with pytest.raises(BrokerLaunchError, match=r"1\.\.65535"):
        render_runtime_config("", "127.0.0.1", port, "base.conf")


@pytest.mark.parametrize("host", ["", "127.0.0.1\nport 1883", "a b"])
def test_host_that_would_inject_config_is_refused(host: str) -> None:
    with pytest.raises(BrokerLaunchError, match="host"):
        render_runtime_config("", host, 1883, "base.conf")


def test_default_config_dir_is_the_repository_broker_config() -> None:
    assert default_config_dir(environ={}) == REPO_BASE.parent


def test_default_config_dir_honours_the_environment(tmp_path: Path) -> None:
    (tmp_path / BASE_CONFIG_NAME).write_text("persistence false\n", encoding="utf-8")

    found = default_config_dir(environ={"FACTORY_SIM_BROKER_CONFIG": str(tmp_path)})

    assert found == tmp_path


def test_default_config_dir_names_where_it_looked(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"

    with pytest.raises(BrokerLaunchError) as info:
        default_config_dir(environ={"FACTORY_SIM_BROKER_CONFIG": str(missing)})

    assert str(missing / BASE_CONFIG_NAME) in str(info.value)
    assert "FACTORY_SIM_BROKER_CONFIG" in str(info.value)


def test_persistence_replaces_the_base_files_own_setting() -> None:
    base = "persistence false\nallow_anonymous true\n"

    text = render_runtime_config(
        base, "127.0.0.1", 18883, "base.conf", persistence_dir=Path("/var/db")
    )

    assert _settings(text) == [
        ["listener", "18883", "127.0.0.1"],
        ["allow_anonymous", "true"],
        ["persistence", "true"],
        ["persistence_location", "/var/db/"],
    ]


def test_the_shipped_config_with_persistence_sets_each_option_once() -> None:
    base = REPO_BASE.read_text(encoding="utf-8")

    text = render_runtime_config(base, "::1", 1883, "base.conf", persistence_dir=Path("/d/"))

    options = [words[0] for words in _settings(text)]
    assert options.count("persistence") == 1
    assert ["persistence_location", "/d/"] in _settings(text)


@pytest.mark.parametrize("where", ["relative/db", "/with space/db"])
def test_a_persistence_directory_mosquitto_cannot_read_is_refused(where: str) -> None:
    with pytest.raises(BrokerLaunchError, match="persistence directory"):
        render_runtime_config("", "127.0.0.1", 1883, "b", persistence_dir=Path(where))
