"""A lost uplink of the whole fleet through ``factory-sim run`` (CI-sized: 1,000 connections):
every connection cut at once, every one back, the storm spread so that connects per second
never exceed the onboarding rate, and every will counted by ingest.

The reconnects' backoff jitter spreads the drops over a window; the fleet's spacing of
reconnect attempts (at most the onboarding rate) caps what is left, so the whole storm lasts at
least ``(N - 1) / rate``: a lower bound the spacing guarantees, not a wall-clock measurement.
Per second, the reconnects the time series counts (at CONNACK) stay within the rate, give or
take the attempts the workers had under way together (``max_in_flight``). With the register
workflow each connection's will is a death naming its device, which ingest counts.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tests.commands import run_reported

pytestmark = pytest.mark.broker

DEVICES = 1000
RATE = 250.0
IN_FLIGHT = 10

SCENARIO = f"""\
name = "storm"
duration_s = 11.0
seed = 11

[broker]
clean_start = false
session_expiry_s = 300

[fleet]
devices = {DEVICES}
publish_interval_s = 5.0
qos = 1

[onboarding]
rate_per_s = {RATE}
max_in_flight = {IN_FLIGHT}
workflow = "register"

[ingest]
sqlite_path = "rows.sqlite"

[[faults]]
kind = "drop_connections"
at_s = 5.0
share = 1.0
"""


def test_the_whole_fleet_cut_comes_back_at_the_onboarding_rate_with_its_wills(
    tmp_path: Path,
) -> None:
    (tmp_path / "storm.toml").write_text(SCENARIO)
    _, report = run_reported("run", "storm.toml", cwd=tmp_path)

    (cut,) = report["faults"]
    assert (cut["devices_before"], cut["devices_cut"]) == (DEVICES, DEVICES)
    assert cut["back_s"] is not None
    assert cut["back_s"] >= (DEVICES - 1) / RATE - 0.1
    assert report["connections"]["reconnects"] == DEVICES
    assert report["devices"]["connected"] == DEVICES

    samples = report["timeseries"]
    back = 0.0
    for before, sample in itertools.pairwise(samples):
        span = sample["t_s"] - before["t_s"]
        count = sample["reconnects_per_s"] * span
        back += count
        assert count <= RATE * span + IN_FLIGHT + 1, sample
    assert back == pytest.approx(DEVICES, abs=len(samples))  # the rates add up to the storm

    deaths = report["onboarding"]["deaths"]
    assert deaths["heard_in_wills"] == DEVICES
    assert report["messages"]["lost"] == 0
