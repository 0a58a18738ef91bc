"""A clock for code that takes its time as a callable: it reads ``now``, which only the test
moves, so nothing waits on the wall clock."""

from __future__ import annotations


class FakeClock:
    """Monotonic seconds as a test sets them; call it as the code under test calls its clock."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
