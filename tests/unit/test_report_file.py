"""A report file appears whole: written beside its place, then renamed over it.

Slices of a run write their reports to a shared volume where the merge waits for them; a
reader must never see half a report. Renaming replaces the file's directory entry instead of
rewriting it, so a reader that opened the old report goes on reading the old one whole."""

from __future__ import annotations

import json
from pathlib import Path

from simulator.cli import write_report


def test_a_new_report_is_written_whole_with_no_file_left_beside(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "slice-0.json"
    write_report(path, {"published": 7})
    assert json.loads(path.read_text()) == {"published": 7}
    assert [p.name for p in path.parent.iterdir()] == ["slice-0.json"]


def test_a_report_replaces_the_old_one_without_rewriting_it(tmp_path: Path) -> None:
    path = tmp_path / "slice-0.json"
    write_report(path, {"published": 1})
    with path.open() as reader:
        write_report(path, {"published": 2, "more": "x" * 10_000})
        # Truncating and rewriting in place would show the reader the new or no bytes.
        assert json.loads(reader.read()) == {"published": 1}
    assert json.loads(path.read_text())["published"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["slice-0.json"]
