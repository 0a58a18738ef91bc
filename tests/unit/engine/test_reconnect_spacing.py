"""The spacing of reconnects: a storm of drops comes back no faster than the onboarding rate.

``Spacing`` is pure (time passed in); ``Reconnects`` is driven on a real loop with attempts that
succeed at once, and the start of each attempt is recorded on the loop's clock."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest

from simulator.engine.reconnects import ReconnectPolicy, Reconnects, Spacing
from simulator.transport.connection import MqttLink
from simulator.transport.connector import ConnectOutcome
from tests.waiting import wait_until


def test_slots_are_spaced_by_the_rate_from_the_first_of_a_burst() -> None:
    spacing = Spacing(100.0)
    waits = [spacing.wait_s(10.0) for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.01, 0.02, 0.03, 0.04])


def test_an_idle_spacing_does_not_save_up_slots_for_a_burst() -> None:
    spacing = Spacing(10.0)
    assert spacing.wait_s(0.0) == 0.0
    # Long after: the next attempt goes at once, and the one after it waits a whole interval.
    assert spacing.wait_s(60.0) == 0.0
    assert spacing.wait_s(60.0) == pytest.approx(0.1)


def test_a_rate_must_be_above_zero() -> None:
    with pytest.raises(ValueError, match="above 0"):
        Spacing(0.0)


async def test_a_storm_of_drops_is_reconnected_at_the_rate_at_most() -> None:
    loop = asyncio.get_running_loop()
    started: list[float] = []
    back: list[int] = []

    async def attempt(connection: int, link: MqttLink) -> ConnectOutcome:
        started.append(loop.time())
        return ConnectOutcome(index=connection, link=link)

    rate = 200.0
    reconnects = Reconnects(
        # Every drop due within 10 ms: unpaced, the workers would take them all at once.
        ReconnectPolicy(min_s=0.01, max_s=0.01),
        seed=1,
        limit=50,
        loop=loop,
        prepare=lambda connection, link: None,
        attempt=attempt,
        back=lambda connection, link, outcome: back.append(connection),
        rate_per_s=rate,
    )
    link = cast(MqttLink, object())
    for connection in range(100):
        reconnects.schedule(connection, link)
    await wait_until(lambda: len(back) == 100, "every connection back")
    reconnects.stop()
    assert sorted(back) == list(range(100))
    # The n-th attempt started no earlier than n / rate after the first.
    first = started[0]
    for n, at in enumerate(sorted(started)):
        assert at - first >= n / rate - 1e-3
