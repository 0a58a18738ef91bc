"""The ingest child's command line carries every setting, and never the password."""

from __future__ import annotations

from pathlib import Path

from simulator.ingest.child import PASSWORD_ENV, IngestChild, command_line
from simulator.ingest.worker import WorkerSettings
from simulator.mqtt import MQTTVersion


def test_settings_become_flags_and_the_password_stays_off_the_command_line() -> None:
    settings = WorkerSettings(
        host="broker",
        port=8883,
        username="ingest",
        password="s3cret",
        tls=True,
        ca_file="ca.pem",
        qos=1,
        session_expiry_s=300,
        mqtt_version=MQTTVersion.V5,
    )
    args = command_line(settings, Path("runs/x.sqlite"))
    joined = " ".join(args)
    assert "mqtts://ingest@broker:8883" in joined
    assert "--qos 1" in joined
    assert "--session-expiry 300" in joined
    assert "--ca-file ca.pem" in joined
    assert "s3cret" not in joined
    assert IngestChild(settings, Path("runs/x.sqlite"))._env[PASSWORD_ENV] == "s3cret"


def test_a_clean_session_adds_no_expiry_flag() -> None:
    args = command_line(WorkerSettings(host="b", port=1883), Path("x.sqlite"))
    assert "--session-expiry" not in args
    assert "--insecure" not in args


def test_a_plain_subscription_stays_plain_in_the_child() -> None:
    plain = command_line(WorkerSettings(host="b", port=1883, share_group=None), Path("x.sqlite"))
    shared = command_line(WorkerSettings(host="b", port=1883), Path("x.sqlite"))
    assert plain[plain.index("--share-group") + 1] == ""
    assert shared[shared.index("--share-group") + 1] == "ingest"
