"""The secure runtime config: the template filled in, the base settings after it."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.broker import BASE_CONFIG_NAME, render_secure_config
from simulator.errors import BrokerLaunchError

CONFIG_DIR = Path(__file__).resolve().parents[3] / "broker_config"
TEMPLATE = CONFIG_DIR / "secure" / BASE_CONFIG_NAME
ACL = CONFIG_DIR / "secure" / "acl"
VALUES = {
    "host": "127.0.0.1",
    "port": "1001",
    "tls_port": "1002",
    "mtls_port": "1003",
    "ca_file": "/run/ca.pem",
    "server_cert": "/run/server.pem",
    "server_key": "/run/server.key",
    "password_file": "/run/passwords",
    "acl_file": "/run/acl",
}


def _settings(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _render(template: str, base: str, values: dict[str, str] | None = None) -> str:
    return render_secure_config(template, base, VALUES if values is None else values, "t", "b")


def test_placeholders_are_filled_and_base_settings_follow() -> None:
    template = "listener @port@ @host@\nmax_connections -1\nallow_anonymous false\n"
    base = "persistence false\nallow_anonymous true\nmax_connections -1\n"

    assert _settings(_render(template, base)) == [
        ["listener", "1001", "127.0.0.1"],
        ["max_connections", "-1"],
        ["allow_anonymous", "false"],
        ["persistence", "false"],
    ]


def test_base_options_the_profile_sets_are_commented_out_not_lost() -> None:
    rendered = _render("allow_anonymous false\n", "allow_anonymous true\n")

    assert "# replaced by t: allow_anonymous true" in rendered


def test_a_placeholder_without_a_value_is_refused() -> None:
    with pytest.raises(BrokerLaunchError, match="no value for @tls_port@"):
        _render("listener @tls_port@\n", "", {"port": "1"})


def test_placeholders_in_comments_are_left_alone() -> None:
    assert "# see @nothing@" in _render("# see @nothing@\n", "")


def test_values_with_spaces_are_refused() -> None:
    with pytest.raises(BrokerLaunchError, match="password_file"):
        _render("password_file @password_file@\n", "", {"password_file": "/my dir/p"})


def test_listener_scoped_base_option_the_profile_does_not_repeat_is_refused() -> None:
    with pytest.raises(BrokerLaunchError, match=r"b:2: 'max_qos' applies to one listener"):
        _render("listener @port@\n", "persistence false\nmax_qos 1\n")


def test_base_that_opens_a_listener_is_refused() -> None:
    with pytest.raises(BrokerLaunchError, match=r"b:1: 'listener'"):
        _render("allow_anonymous false\n", "listener 1883\n")


def test_repository_profile_renders_with_the_repository_base() -> None:
    base = (CONFIG_DIR / BASE_CONFIG_NAME).read_text(encoding="utf-8")
    settings = _settings(
        render_secure_config(TEMPLATE.read_text(encoding="utf-8"), base, VALUES, "t", "b")
    )
    options = [words[0] for words in settings]

    assert [w[1:] for w in settings if w[0] == "listener"] == [
        ["1001", "127.0.0.1"],
        ["1002", "127.0.0.1"],
        ["1003", "127.0.0.1"],
    ]
    assert ["allow_anonymous", "false"] in settings
    assert ["allow_anonymous", "true"] not in settings
    assert options.count("max_connections") == 3  # one per listener
    assert ["password_file", "/run/passwords"] in settings
    assert ["acl_file", "/run/acl"] in settings
    _, second, third = (i for i, option in enumerate(options) if option == "listener")
    tls, mtls = settings[second + 1 : third], settings[third + 1 :]
    assert ["require_certificate", "true"] not in tls
    assert ["require_certificate", "true"] in mtls
    assert ["use_identity_as_username", "true"] in mtls
    # The load-test settings still come from the shared base file.
    assert ["max_queued_messages", "1000000"] in settings


def test_repository_acl_confines_devices_to_their_own_topics() -> None:
    rules = _settings(ACL.read_text(encoding="utf-8"))

    assert ["pattern", "readwrite", "factory/+/+/%u/#"] in rules
    ingest = rules.index(["user", "ingest"])
    assert rules[ingest + 1] == ["topic", "read", "factory/#"]
    # No rule grants anyone outside a user section more than its own device's topics.
    assert [r for r in rules[:ingest] if r[0] != "pattern"] == []
