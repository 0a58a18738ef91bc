"""What a run tells a running worker: one JSON instruction a line, read on a thread and
applied on the loop; a line that is not one is refused and said, never a crash."""

from __future__ import annotations

import asyncio
import io

import pytest

from simulator.ingest.control import Control, follow
from tests.waiting import wait_until


def test_an_instruction_is_one_line_of_json_and_reads_back() -> None:
    line = Control(0.25).to_line()
    assert line == '{"commit_delay_s": 0.25}\n'
    assert Control.from_line(line) == Control(0.25)
    assert Control.from_line('{"commit_delay_s": 0}') == Control(0.0)


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("not json", "not a control line"),
        ("{}", "not a control line"),
        ('{"commit_delay_s": 1, "more": 2}', "unknown keys ['more']"),
        ('{"commit_delay_s": -1}', "must be a number >= 0"),
        ('{"commit_delay_s": true}', "must be a number >= 0"),
        ('{"commit_delay_s": "1"}', "must be a number >= 0"),
        ("[1]", "not a control line"),
    ],
)
def test_a_line_that_is_not_an_instruction_is_refused_naming_why(line: str, said: str) -> None:
    with pytest.raises(ValueError, match=said.replace("[", r"\[").replace("]", r"\]")):
        Control.from_line(line)


async def test_instructions_are_applied_on_the_loop_in_order_until_the_end_of_input() -> None:
    loop = asyncio.get_running_loop()
    stream = io.StringIO(Control(0.5).to_line() + "\n" + "oops\n" + Control(0.0).to_line())
    applied: list[Control] = []
    refused: list[str] = []
    thread = follow(stream, loop, applied.append, refused.append)
    await wait_until(lambda: len(applied) + len(refused) == 3, "every line handled")
    await asyncio.to_thread(thread.join, 5.0)
    assert not thread.is_alive()  # the end of input ends the thread
    assert applied == [Control(0.5), Control(0.0)]
    assert len(refused) == 1
    assert "'oops'" in refused[0]
