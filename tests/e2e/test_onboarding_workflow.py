"""The register workflow through the CLI against a real Mosquitto: the funnel adds up, refused
and unanswered registrations are counted where they happen, and refused devices send nothing."""

from __future__ import annotations

import itertools
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from simulator.broker import LocalBroker
from simulator.payloads.registration import LEFT
from simulator.provisioning import verdict
from tests.commands import simulator
from tests.death_watch import DeathWatch

pytestmark = pytest.mark.broker

DEVICES = 120


def scenario(
    tmp_path: Path, *, version: str, per_connection: int, responder: str, ingest: bool = True
) -> Path:
    path = tmp_path / "onboard.toml"
    path.write_text(
        f"""
name = "onboard"
seed = 7
duration_s = 1.5

[broker]
mqtt_version = "{version}"

[fleet]
devices = {DEVICES}
publish_interval_s = 0.25
devices_per_connection = {per_connection}

[onboarding]
workflow = "register"
register_timeout_s = 1.5

[onboarding.responder]
{responder}

[ingest]
enabled = {str(ingest).lower()}
sqlite_path = "{tmp_path / "onboard.sqlite"}"
"""
    )
    return path


def run(tmp_path: Path, **kwargs: Any) -> tuple[int, str, dict[str, Any]]:
    report_path = tmp_path / "report.json"
    result = simulator(
        "run", str(scenario(tmp_path, **kwargs)), "--report", str(report_path), cwd=tmp_path
    )
    return result.returncode, result.stdout + result.stderr, json.loads(report_path.read_text())


def stages(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    funnel: dict[str, dict[str, Any]] = report["onboarding"]["funnel"]
    return funnel


def assert_adds_up(report: dict[str, Any]) -> None:
    funnel = list(report["onboarding"]["funnel"].values())
    first = funnel[0]
    assert first["reached"] + first["rejected"] + first["timeouts"] + first["failed"] == DEVICES
    for before, stage in itertools.pairwise(funnel):
        fell_out = stage["rejected"] + stage["timeouts"] + stage["failed"] + stage["pending"]
        assert stage["reached"] + fell_out == before["reached"], stage["stage"]
        if stage["reached"]:
            # Times run along one clock from the start of the connection attempt.
            assert stage["p50_ms"] >= before["p50_ms"] * 0.999, stage["stage"]


def devices_ingested(tmp_path: Path) -> set[str]:
    with sqlite3.connect(tmp_path / "onboard.sqlite") as db:
        return {row[0] for row in db.execute("SELECT DISTINCT device_id FROM telemetry")}


def test_refused_and_unanswered_registrations_are_counted_at_their_stage(tmp_path: Path) -> None:
    code, output, report = run(
        tmp_path,
        version="5",
        per_connection=1,
        responder="reject_share = 0.1\nsilent_share = 0.1",
    )
    assert code == 1, output
    onboarding = report["onboarding"]
    assert onboarding["workflow"] == "register"
    by_stage = stages(report)
    assert list(by_stage) == [
        "tcp_connect",
        "connack",
        "suback",
        "registered",
        "first_telemetry_ingested",
    ]
    assert_adds_up(report)
    ids = [f"ms-{i:06d}" for i in range(DEVICES)]
    verdicts = [verdict(7, device_id, 0.1, 0.1) for device_id in ids]
    registered = by_stage["registered"]
    assert registered["rejected"] == verdicts.count("reject") > 0
    assert registered["timeouts"] == verdicts.count("ignore") > 0
    assert registered["reached"] == verdicts.count("accept")
    responder = onboarding["responder"]
    # An unanswered registration is sent three times (register_attempts) before it times out.
    assert registered["retries"] == 2 * registered["timeouts"]
    assert responder["registrations"] == DEVICES + registered["retries"]
    assert responder["rejected"] == registered["rejected"]
    assert responder["ignored"] == 3 * registered["timeouts"]
    # Every accepted device, and only those, sent telemetry, and all of it arrived.
    accepted = {d for d, v in zip(ids, verdicts, strict=True) if v == "accept"}
    assert devices_ingested(tmp_path) == accepted
    assert by_stage["first_telemetry_ingested"]["reached"] == len(accepted)
    assert report["messages"]["lost"] == 0
    assert onboarding["answers"] == {"late": 0, "invalid": 0}
    assert "onboarding stage registered:" in output
    assert f"{registered['rejected']} rejected" in output


def test_gateways_register_every_device_under_mqtt_3_1_1(tmp_path: Path) -> None:
    code, output, report = run(tmp_path, version="3.1.1", per_connection=8, responder="")
    assert code == 0, output
    assert_adds_up(report)
    by_stage = stages(report)
    assert by_stage["connack"]["reached"] == DEVICES  # counted in devices, not connections
    assert by_stage["registered"]["reached"] == DEVICES
    assert by_stage["first_telemetry_ingested"]["reached"] == DEVICES
    assert report["connections"]["connected"] == DEVICES // 8
    assert report["onboarding"]["responder"]["accepted"] == DEVICES
    assert len(devices_ingested(tmp_path)) == DEVICES
    assert report["messages"]["lost"] == 0


def test_without_a_responder_every_registration_times_out(tmp_path: Path) -> None:
    code, output, report = run(tmp_path, version="5", per_connection=1, responder="enabled = false")
    assert code == 1, output
    assert_adds_up(report)
    registered = stages(report)["registered"]
    assert registered["timeouts"] == DEVICES
    assert registered["retries"] == 2 * DEVICES
    assert registered["reached"] == 0
    assert report["onboarding"]["responder"] is None
    assert report["messages"]["published"] == 0


def test_without_ingest_a_responder_of_its_own_answers(tmp_path: Path) -> None:
    code, output, report = run(
        tmp_path, version="5", per_connection=4, responder="reject_share = 0.1", ingest=False
    )
    assert code == 1, output  # the refused devices
    assert "a provisioning responder answers registrations" in output
    assert_adds_up({"onboarding": {"funnel": dict(list(stages(report).items())[:4])}})
    registered = stages(report)["registered"]
    assert "first_telemetry_ingested" not in stages(report)
    assert registered["reached"] + registered["rejected"] == DEVICES
    assert report["onboarding"]["responder"]["accepted"] == registered["reached"]
    assert report["messages"]["ingested"] is None


def test_every_accepted_device_dies_on_its_own_when_the_run_ends(
    tmp_path: Path, mosquitto: LocalBroker
) -> None:
    ids = [f"ms-{i:06d}" for i in range(DEVICES)]
    accepted = sorted(d for d in ids if verdict(7, d, 0.1, 0.0) == "accept")
    report_path = tmp_path / "report.json"
    path = scenario(tmp_path, version="5", per_connection=8, responder="reject_share = 0.1")
    watch = DeathWatch(mosquitto)
    try:
        result = simulator(
            "run", str(path), "--broker", mosquitto.url, "--report", str(report_path), cwd=tmp_path
        )
        deaths = watch.wait_for(len(accepted))
    finally:
        watch.close()
    output = result.stdout + result.stderr
    assert result.returncode == 1, output  # the refused devices
    report = json.loads(report_path.read_text())
    # A death per accepted device, from its own gateway, and none for a refused one.
    assert sorted(device for _, death in deaths for device in death.devices) == accepted
    for topic, death in deaths:
        assert death.reason == LEFT
        assert topic == f"onboarding/{death.gateway}/death"
        assert death.gateway == f"gw-{int(death.devices[0][3:]) // 8:05d}"
    assert report["onboarding"]["deaths"] == {
        "topic": "onboarding/{device}/death",
        "sent": len(accepted),
        "wills": DEVICES // 8,
        "heard": len(accepted),  # by the ingest worker, the platform's side
        "heard_in_wills": 0,
        "heard_invalid": 0,
    }
    assert f"{len(accepted)} sent on leaving ({len(accepted)} heard by ingest)" in output
