"""The worker's JSON lines never make ingest wait on a reader that is behind."""

from __future__ import annotations

import io
import json
import os
import threading

from simulator.ingest.service import JsonLines

BIG = {"latency_us": list(range(3000))}  # about 15 KB a line, as a wide histogram makes


def test_progress_on_a_full_pipe_is_skipped_not_waited_for() -> None:
    read_end, write_end = os.pipe()
    try:
        with os.fdopen(write_end, "w", closefd=False) as out:
            lines = JsonLines(out)
            for n in range(40):  # ~600 KB into a 64 KB pipe nobody reads: would block
                lines.progress(n=n, **BIG)
            assert lines.skipped > 0
            # The other lines are written whole once the reader reads: read on a thread.
            received = bytearray()

            def read_all() -> None:
                while chunk := os.read(read_end, 65536):
                    received.extend(chunk)

            reader = threading.Thread(target=read_all)
            reader.start()
            lines.emit("final", done=True)
            os.close(write_end)
            reader.join(timeout=30)
            assert not reader.is_alive()
    finally:
        os.close(read_end)
    events = [json.loads(line) for line in received.decode().splitlines()]  # none torn
    assert events[-1] == {"event": "final", "done": True}
    progress = [e["n"] for e in events[:-1]]
    assert progress == sorted(progress)
    assert len(progress) + lines.skipped == 40


def test_lines_to_a_plain_stream_are_all_written() -> None:
    out = io.StringIO()
    lines = JsonLines(out)
    lines.progress(n=1)
    lines.emit("final", n=2)
    assert [json.loads(x) for x in out.getvalue().splitlines()] == [
        {"event": "progress", "n": 1},
        {"event": "final", "n": 2},
    ]
    assert lines.skipped == 0
