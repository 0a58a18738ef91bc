"""A gateway that reconnects announces all of its devices again, and the funnel shows it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.restarts import whole_run_through_restart

pytestmark = pytest.mark.broker

DEVICES = 40
PER_GATEWAY = 8


def test_gateways_reannounce_every_device_after_a_broker_restart(tmp_path: Path) -> None:
    report = whole_run_through_restart(
        "reannounce",
        tmp_path / "r.sqlite",
        duration_s=5.0,
        fleet={
            "devices": DEVICES,
            "publish_interval_s": 0.2,
            "devices_per_connection": PER_GATEWAY,
        },
        onboarding={"workflow": "register", "register_timeout_s": 3.0},
    )
    onboarding = report["onboarding"]
    assert report["connections"]["reconnects"] == DEVICES // PER_GATEWAY
    # Every drop is counted with why it happened (the broker went away under them).
    drops = report["devices"]["drops_by_reason"]
    assert sum(drops.values()) == report["devices"]["dropped_after_connect"] > 0
    # The first onboarding is untouched by the restart ...
    registered = onboarding["funnel"]["registered"]
    assert registered["reached"] == DEVICES
    # ... and every device came back through a second registration, answered by a responder
    # that reconnected too.
    again = onboarding["reannounced"]
    assert again["sent"] == DEVICES
    assert again["accepted"] == DEVICES
    assert again["rejected"] == again["timeouts"] == again["failed"] == 0
    # Registrations sent before the responder was back are lost with nobody subscribed and
    # sent again after their timeout (again["retries"]): every device is accepted twice.
    assert onboarding["responder"]["accepted"] == 2 * DEVICES
    assert onboarding["responder"]["reconnects"] == 1
    # Every connect attempt, the first and those after the restart (some while the broker was
    # still down), carried the gateway's death will stamped anew; each device died once on
    # leaving, heard by ingest.
    deaths = onboarding["deaths"]
    assert deaths["wills"] >= 2 * (DEVICES // PER_GATEWAY)
    assert deaths["sent"] == deaths["heard"] == DEVICES
    # Re-announced devices are publishing again after the restart: the broker went down once
    # every device had published 2 messages, and only an accepted device publishes, so well
    # over that many were published, and ingest (back on its own backoff, losing what QoS 0
    # sent meanwhile, which the report counts as lost) stored more than the first 2 each.
    # (Registrations sent while the responder was away are retried after register_timeout_s.)
    messages = report["messages"]
    assert messages["published"] > DEVICES * 5
    assert messages["ingested"] is not None
    assert messages["ingested"] > DEVICES * 3
