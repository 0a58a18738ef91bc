"""Finding the mosquitto executable, and the error when there is none."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

from simulator.broker import find_mosquitto, max_connections_hint
from simulator.errors import BrokerLaunchError


def _fake_executable(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    exe = directory / "mosquitto"
    exe.write_text("#!/bin/sh\n", encoding="utf-8")
    exe.chmod(0o755)
    return exe


def test_missing_mosquitto_says_how_to_install_it(tmp_path: Path) -> None:
    empty_path = tmp_path / "bin"
    empty_sbin = tmp_path / "sbin"
    empty_path.mkdir()
    empty_sbin.mkdir()

    with pytest.raises(BrokerLaunchError) as info:
        find_mosquitto(search_path=str(empty_path), extra_dirs=[empty_sbin])

    message = str(info.value)
    assert "apt-get install -y mosquitto" in message
    assert "--broker mqtt://host:port" in message
    assert str(empty_path) in message
    assert str(empty_sbin) in message


def test_found_on_path(tmp_path: Path) -> None:
    exe = _fake_executable(tmp_path / "bin")

    assert find_mosquitto(search_path=str(exe.parent), extra_dirs=[]) == exe


def test_found_in_an_sbin_dir_missing_from_path(tmp_path: Path) -> None:
    exe = _fake_executable(tmp_path / "sbin")
    (tmp_path / "bin").mkdir()

    assert find_mosquitto(search_path=str(tmp_path / "bin"), extra_dirs=[exe.parent]) == exe


def test_path_wins_over_sbin_dirs(tmp_path: Path) -> None:
    on_path = _fake_executable(tmp_path / "bin")
    _fake_executable(tmp_path / "sbin")

    found = find_mosquitto(search_path=str(on_path.parent), extra_dirs=[tmp_path / "sbin"])

    assert found == on_path


def test_non_executable_file_is_not_mosquitto(tmp_path: Path) -> None:
    exe = _fake_executable(tmp_path / "bin")
    exe.chmod(0o644)

    with pytest.raises(BrokerLaunchError):
        find_mosquitto(search_path=str(exe.parent), extra_dirs=[])


def test_max_connections_hint_is_below_the_hard_descriptor_limit() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    hint = max_connections_hint()

    assert hint > 0
    if hard != resource.RLIM_INFINITY:
        assert hint < hard
