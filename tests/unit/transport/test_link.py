"""Link conditions as a pure schedule: latency, jitter that never reorders, loss as a
retransmission holding up what follows, a partition that queues and lets go in order, and one
heap for every lane. Time is passed in; nothing sleeps."""

from __future__ import annotations

import random

import pytest

from simulator.transport.link import (
    MAX_RETRANSMITS,
    RETRANSMIT_TIMEOUT_S,
    Impairment,
    Lane,
    Lanes,
)


class Far:
    """A lane's far side: what reached it, with when."""

    def __init__(self, clock: list[float]) -> None:
        self.clock = clock
        self.got: list[tuple[float, bytes]] = []
        self.ended: list[tuple[float, bool]] = []

    def write(self, data: bytes) -> None:
        self.got.append((self.clock[0], data))

    def end(self, reset: bool) -> None:
        self.ended.append((self.clock[0], reset))


def run_until(lanes: Lanes, clock: list[float], until: float) -> None:
    """Fire the one timer at every due time up to ``until``, as the relay does."""
    while (due := lanes.next_due()) is not None and due <= until:
        clock[0] = max(clock[0], due)
        lanes.release(clock[0])
    clock[0] = until


def setup(seed: int = 1) -> tuple[Lanes, list[float]]:
    return Lanes(random.Random(seed)), [0.0]


def one_lane(impairment: Impairment | None = None) -> tuple[Lanes, list[float], Far, Lane]:
    """Lanes at time 0 with one lane to a far side, under ``impairment`` if one is given."""
    lanes, clock = setup()
    far = Far(clock)
    lane = Lane(far)
    if impairment is not None:
        lanes.impair(impairment)
    return lanes, clock, far, lane


def test_a_clear_link_passes_at_once_and_a_queued_lane_keeps_its_order() -> None:
    lanes, clock, far, lane = one_lane()
    assert lanes.clear
    assert lanes.passes(lane)
    lanes.impair(Impairment(latency_s=0.2))
    assert not lanes.passes(lane)
    lanes.push(lane, b"a", 0.0)
    impairment = lanes.impairment
    assert impairment is not None
    lanes.restore(impairment)
    # Clear again, but "a" still waits: "b" must not pass it.
    assert lanes.clear
    assert not lanes.passes(lane)
    lanes.push(lane, b"b", 0.05)
    run_until(lanes, clock, 1.0)
    assert far.got == [(0.2, b"a"), (0.2, b"b")]
    assert lanes.passes(lane)


def test_latency_delays_every_chunk_by_at_least_its_value() -> None:
    lanes, clock, far, lane = one_lane(Impairment(latency_s=0.2))
    for n in range(10):
        lanes.push(lane, bytes([n]), n * 0.01)
    run_until(lanes, clock, 0.1)
    assert far.got == []
    run_until(lanes, clock, 1.0)
    assert [data[0] for _, data in far.got] == list(range(10))
    assert all(at == pytest.approx(n * 0.01 + 0.2) for n, (at, _) in enumerate(far.got))


def test_jitter_spreads_the_delay_but_never_reorders_a_lane() -> None:
    lanes, clock, far, lane = one_lane(Impairment(latency_s=0.1, jitter_s=0.05))
    sent = [n * 0.001 for n in range(500)]
    for n, at in enumerate(sent):
        lanes.push(lane, n.to_bytes(2, "big"), at)
    run_until(lanes, clock, 10.0)
    order = [int.from_bytes(data, "big") for _, data in far.got]
    assert order == list(range(500))
    delays = [at - sent[n] for n, (at, _) in enumerate(far.got)]
    assert min(delays) >= 0.05 - 1e-9
    assert max(delays) <= 0.15 + 1e-9
    # Spread, not constant: some chunks went well under the latency, some well over.
    assert min(delays) < 0.07
    assert max(delays) > 0.13


def test_a_lost_chunk_arrives_a_retransmission_timeout_late_and_holds_up_what_follows() -> None:
    lanes, clock, far, lane = one_lane(Impairment(loss=1.0))
    lanes.push(lane, b"lost", 0.0)
    impairment = lanes.impairment
    assert impairment is not None
    lanes.restore(impairment)
    lanes.impair(Impairment(latency_s=0.01))
    lanes.push(lane, b"behind", 0.001)
    run_until(lanes, clock, 60.0)
    # Lost at every try: each retransmission waits twice as long, up to the bound.
    late = sum(RETRANSMIT_TIMEOUT_S * 2**n for n in range(MAX_RETRANSMITS))
    assert [data for _, data in far.got] == [b"lost", b"behind"]
    assert [at for at, _ in far.got] == pytest.approx([late, late])


def test_a_share_of_chunks_is_lost_and_the_rest_is_not() -> None:
    lanes, clock = setup(seed=7)
    lanes.impair(Impairment(loss=0.1))
    fars = [Far(clock) for _ in range(1000)]
    for far in fars:
        lanes.push(Lane(far), b"x", 0.0)
    run_until(lanes, clock, 60.0)
    late = sum(1 for far in fars if far.got[0][0] >= RETRANSMIT_TIMEOUT_S)
    assert 60 <= late <= 140  # 10% of 1000, within a generous binomial band (seeded)
    assert all(far.got[0][0] in (0.0,) or far.got[0][0] >= 0.2 for far in fars)


def test_a_partition_holds_both_ways_and_lets_go_in_order() -> None:
    lanes, clock = setup()
    up, down = Far(clock), Far(clock)
    to_broker, to_fleet = Lane(up), Lane(down)
    lanes.hold()
    assert lanes.held
    lanes.push(to_broker, b"publish", 0.0)
    lanes.push(to_fleet, b"puback", 0.1)
    lanes.push(to_broker, b"pingreq", 0.5)
    assert lanes.next_due() is None
    assert lanes.release(10.0) == []
    assert up.got == down.got == []
    clock[0] = 3.0
    lanes.unhold()
    run_until(lanes, clock, 3.0)
    assert up.got == [(3.0, b"publish"), (3.0, b"pingreq")]
    assert down.got == [(3.0, b"puback")]
    with pytest.raises(ValueError, match="unhold"):
        lanes.unhold()


def test_an_end_goes_behind_the_bytes_sent_before_it() -> None:
    lanes, clock, far, lane = one_lane(Impairment(latency_s=0.2))
    lanes.push(lane, b"last words", 0.0)
    lanes.push_end(lane, 0.01, reset=True)
    run_until(lanes, clock, 0.1)
    assert far.ended == []
    run_until(lanes, clock, 1.0)
    assert far.got == [(0.2, b"last words")]
    assert far.ended == [(0.2, True)]


def test_overlapping_impairments_the_latest_rules_until_it_ends() -> None:
    lanes, _ = setup()
    first, second = Impairment(latency_s=0.1), Impairment(latency_s=0.3)
    lanes.impair(first)
    lanes.impair(second)
    assert lanes.impairment is second
    lanes.restore(first)
    assert lanes.impairment is second
    lanes.restore(second)
    assert lanes.impairment is None


def test_one_heap_entry_per_lane_however_many_chunks_it_holds() -> None:
    lanes, clock = setup()
    lanes.impair(Impairment(latency_s=0.2))
    many = [Lane(Far(clock)) for _ in range(100)]
    for n in range(10):
        for lane in many:
            lanes.push(lane, b"m", n * 0.001)
    assert len(lanes._heap) == 100
    assert lanes.next_due() == pytest.approx(0.2)
    released = lanes.release(0.2045)
    assert len(released) == 100
    assert all(lane.queued_bytes == 5 for lane in many)
    run_until(lanes, clock, 1.0)
    assert lanes.next_due() is None
    assert all(lane.empty and lane.queued_bytes == 0 for lane in many)


def test_a_dropped_lane_gives_nothing_more() -> None:
    lanes, clock, far, lane = one_lane(Impairment(latency_s=0.2))
    lanes.push(lane, b"never", 0.0)
    lanes.drop(lane)
    run_until(lanes, clock, 1.0)
    assert far.got == []
    assert lane.queued_bytes == 0


def test_the_impairment_says_what_it_does() -> None:
    said = Impairment(latency_s=0.2, jitter_s=0.05, loss=0.02).describe()
    assert said == "+200 ms +-50 ms, 2.0% of chunks lost and resent after 200 ms"
