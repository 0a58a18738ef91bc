"""Sink URLs, opening a sink from one, and run ids."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from simulator.errors import SinkError
from simulator.sinks.sqlite import SqliteSink
from simulator.sinks.url import SinkTarget, new_run_id, open_sink, parse_sink_url

NOW_NS = 1_796_606_247_123_456_789  # 2026-12-07T01:17:27Z


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("sqlite:///runs/ingest.sqlite", SinkTarget("sqlite", path=Path("runs/ingest.sqlite"))),
        (
            "sqlite:////var/lib/sim/a.sqlite",
            SinkTarget("sqlite", path=Path("/var/lib/sim/a.sqlite")),
        ),
        ("runs/ingest.sqlite", SinkTarget("sqlite", path=Path("runs/ingest.sqlite"))),
        ("/tmp/x.db", SinkTarget("sqlite", path=Path("/tmp/x.db"))),
        (
            "postgresql://sim:pw@db.example:5433/telemetry",
            SinkTarget("postgresql", conninfo="postgresql://sim:pw@db.example:5433/telemetry"),
        ),
        (
            "postgres://sim@db/telemetry",
            SinkTarget("postgresql", conninfo="postgres://sim@db/telemetry"),
        ),
    ],
)
def test_accepted_forms(text: str, target: SinkTarget) -> None:
    assert parse_sink_url(text) == target


@pytest.mark.parametrize(
    "text",
    ["", "  ", "sqlite://", "sqlite:///", "sqlite://host/file.db", "mysql://u:p@h/db",
     "postgresql://u:p@h:notaport/db", "postgresql://"],
)  # fmt: skip
def test_anything_else_is_refused_naming_the_value_and_the_forms(text: str) -> None:
    with pytest.raises(ValueError, match="accepted: sqlite:///relative") as caught:
        parse_sink_url(text)
    assert repr(text.replace(":p@", ":***@")) in str(caught.value)


def test_display_never_shows_the_password() -> None:
    target = parse_sink_url("postgresql://sim:s3cret@db.example:5433/telemetry")
    assert target.display() == "postgresql://sim@db.example:5433/telemetry"
    assert parse_sink_url("postgres://sim@db/t").display() == "postgresql://sim@db:5432/t"
    assert parse_sink_url("sqlite:///runs/a.sqlite").display() == "sqlite:///runs/a.sqlite"
    assert parse_sink_url("/abs/a.sqlite").display() == "sqlite:////abs/a.sqlite"


def test_open_sink_opens_a_sqlite_file(tmp_path: Path) -> None:
    sink = open_sink(parse_sink_url(str(tmp_path / "a.sqlite")), "run-1", busy_timeout_s=1)
    try:
        assert isinstance(sink, SqliteSink)
        assert (sink.kind, sink.run_id) == ("sqlite", "run-1")
    finally:
        sink.close()


def test_open_sink_says_why_it_could_not() -> None:
    # Nothing listens on port 1 of loopback: refused at once.
    target = parse_sink_url("postgresql://sim:pw@127.0.0.1:1/telemetry")
    with pytest.raises(SinkError, match=r"postgresql://sim@127\.0\.0\.1:1/telemetry") as caught:
        open_sink(target, "run-1")
    assert caught.value.reason == "connection_lost"
    assert "pw" not in str(caught.value)


def test_a_new_run_id_says_what_ran_and_when() -> None:
    assert new_run_id("quickstart", NOW_NS, b"\x3f\x9a\x1c") == "quickstart-20261207T011727Z-3f9a1c"


def test_a_new_run_id_is_random_unless_seeded() -> None:
    ids = {new_run_id("quickstart", NOW_NS) for _ in range(20)}
    assert len(ids) == 20
    assert all(re.fullmatch(r"quickstart-20261207T011727Z-[0-9a-f]{6}", i) for i in ids)


def test_a_new_run_id_is_always_valid_whatever_the_scenario_name() -> None:
    assert new_run_id("my plant: line 3/cell 4", NOW_NS, b"abc") == (
        "my-plant-line-3-cell-4-20261207T011727Z-616263"
    )
    assert new_run_id("???", NOW_NS, b"abc").startswith("run-")
    assert len(new_run_id("x" * 200, NOW_NS, b"abc")) <= 64
    with pytest.raises(ValueError, match="3 bytes"):
        new_run_id("q", NOW_NS, b"a")
