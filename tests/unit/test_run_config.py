"""The run's id: given, derived alike by every slice of one run, or fresh; and client ids."""

from __future__ import annotations

import pytest

from simulator.config import client_id_prefix, resolve_run_config
from simulator.errors import ScenarioError
from simulator.scenario import Scenario, validate_scenario
from simulator.scenario.segment import Segment

NOW_NS = 1_796_630_400_000_000_000


def scenario(url: str | None = "mqtt://127.0.0.1:1883", **ingest: object) -> Scenario:
    broker = {"url": url} if url is not None else {}
    return validate_scenario(
        {
            "name": "quick",
            "duration_s": 1.0,
            "broker": broker,
            "fleet": {"devices": 10, "publish_interval_s": 1.0},
            "ingest": ingest,
        },
        "q",
    )


def test_a_given_run_id_is_the_runs_and_prefixes_its_client_ids() -> None:
    config = resolve_run_config(scenario(), "q", now_ns=NOW_NS, run_id="ci-4711")
    assert config.run_id == "ci-4711"
    assert config.client_id_prefix == client_id_prefix("ci-4711")
    assert len(config.client_id_prefix) == 7
    assert config.client_id_prefix.endswith("-")


def test_two_runs_get_two_prefixes_and_one_run_the_same() -> None:
    assert client_id_prefix("a") == client_id_prefix("a")
    assert client_id_prefix("a") != client_id_prefix("b")


def test_every_slice_started_at_one_moment_derives_the_same_run_id() -> None:
    ids = {
        resolve_run_config(
            scenario(), "q", now_ns=NOW_NS + k, segment=Segment(k, 3), start_at_ns=NOW_NS
        ).run_id
        for k in range(3)
    }
    ingest = resolve_run_config(scenario(), "q", now_ns=0, ingest="only", start_at_ns=NOW_NS)
    assert ids == {ingest.run_id}
    assert ingest.run_id.startswith("quick-20261207T080000Z-")


def test_a_slice_of_several_needs_a_run_id_or_a_start() -> None:
    with pytest.raises(ScenarioError, match="--segment 1/2: needs --run-id ID or --start-at"):
        resolve_run_config(scenario(), "q", now_ns=NOW_NS, segment=Segment(1, 2))


def test_a_slice_of_several_leaves_the_platform_side_to_the_ingest_run() -> None:
    config = resolve_run_config(scenario(), "q", now_ns=NOW_NS, segment=Segment(1, 2), run_id="r")
    assert config.ingest == "off"
    assert not config.scenario.ingest.enabled
    assert not config.scenario.onboarding.responder.enabled
    whole = resolve_run_config(scenario(), "q", now_ns=NOW_NS)
    assert whole.ingest == "own"
    assert whole.scenario.ingest.enabled


def test_ingest_only_needs_ingest_and_no_segment() -> None:
    with pytest.raises(ScenarioError) as caught:
        resolve_run_config(
            scenario(enabled=False),
            "q",
            now_ns=NOW_NS,
            ingest="only",
            segment=Segment(0, 2),
            run_id="r",
        )
    said = str(caught.value)
    assert "takes no --segment" in said
    assert "--ingest-only needs ingest" in said


def test_a_bad_run_id_is_a_problem_of_the_flag() -> None:
    with pytest.raises(ScenarioError, match="--run-id: run id 'a b' is not"):
        resolve_run_config(scenario(), "q", now_ns=NOW_NS, run_id="a b")


def test_slices_of_one_run_must_name_their_broker() -> None:
    with pytest.raises(ScenarioError, match="--broker: the slices and the ingest run of one run"):
        resolve_run_config(scenario(url=None), "q", now_ns=0, segment=Segment(0, 2), run_id="r")
    own = resolve_run_config(
        scenario(url=None), "q", now_ns=0, segment=Segment(0, 2), run_id="r", ingest="own"
    )
    assert own.ingest == "own"


def test_stages_run_in_slices_and_over_workers() -> None:
    staged = validate_scenario(
        {
            "name": "staged",
            "broker": {"url": "mqtt://127.0.0.1:1883"},
            "fleet": {"devices": 10, "publish_interval_s": 1.0},
            "stages": [{"duration_s": 2.0, "devices": 10, "msg_rate_per_s": 10.0}],
        },
        "q",
    )
    assert resolve_run_config(staged, "q", now_ns=NOW_NS).scenario.stages
    assert resolve_run_config(staged, "q", now_ns=NOW_NS, workers=2).workers == 2
    sliced = resolve_run_config(staged, "q", now_ns=NOW_NS, segment=Segment(1, 2), run_id="r")
    assert sliced.segment == Segment(1, 2)
    assert sliced.scenario.stages


def test_faults_run_over_workers_too() -> None:
    faulted = validate_scenario(
        {
            "name": "faulted",
            "broker": {"url": "mqtt://127.0.0.1:1883"},
            "fleet": {"devices": 10, "publish_interval_s": 1.0},
            "duration_s": 5.0,
            "faults": [{"kind": "drop_connections", "at_s": 1.0, "share": 0.5}],
        },
        "q",
    )
    config = resolve_run_config(faulted, "q", now_ns=NOW_NS, workers=2)
    assert (config.workers, len(config.scenario.faults)) == (2, 1)
