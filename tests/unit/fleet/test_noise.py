"""Stateless noise: bit-exact SplitMix64, and distributions that look like what they claim."""

from __future__ import annotations

import math
import statistics

import pytest

from simulator.fleet.noise import MASK64, hash64, mix64, normal, stream, unit

N = 100_000


def test_stream_matches_reference_splitmix64() -> None:
    # The first outputs of the reference SplitMix64 (Vigna) seeded with 0: if these hold, the
    # streams are the same on every platform and Python version.
    assert [stream(0, n) for n in range(3)] == [
        0xE220A8397B1DCDAF,
        0x6E789E6AA1B965F4,
        0x06C45D188009454F,
    ]
    assert mix64(0) == stream(0, 0)


def test_inputs_are_reduced_to_64_bits() -> None:
    assert mix64(-1) == mix64(MASK64)
    assert hash64(1, -1, 2) == hash64(1, MASK64, 2)
    assert 0 <= hash64(-5, 1 << 70, -(1 << 70)) <= MASK64


def test_hash_is_deterministic_and_each_argument_matters() -> None:
    base = hash64(7, 11, 13)
    assert hash64(7, 11, 13) == base
    assert len({base, hash64(8, 11, 13), hash64(7, 12, 13), hash64(7, 11, 14)}) == 4
    # Swapping arguments must not collide either: (a, b) is ordered.
    assert hash64(7, 11, 13) != hash64(7, 13, 11)


def test_unit_is_uniform_on_the_half_open_interval() -> None:
    draws = [unit(3, i, 0) for i in range(N)]
    assert all(0.0 <= x < 1.0 for x in draws)
    assert statistics.fmean(draws) == pytest.approx(0.5, abs=0.01)
    assert statistics.pvariance(draws) == pytest.approx(1 / 12, abs=0.005)
    deciles = [0] * 10
    for x in draws:
        deciles[int(x * 10)] += 1
    assert all(abs(count - N / 10) < N / 100 for count in deciles)


def test_neighbouring_inputs_are_uncorrelated() -> None:
    draws = [unit(3, 0, i) for i in range(N)]
    lag1 = statistics.correlation(draws[:-1], draws[1:])
    assert abs(lag1) < 0.02


def test_normal_has_zero_mean_unit_variance_and_tails() -> None:
    draws = [normal(5, i, 1) for i in range(N)]
    assert all(math.isfinite(x) for x in draws)
    assert statistics.fmean(draws) == pytest.approx(0.0, abs=0.02)
    assert statistics.pvariance(draws) == pytest.approx(1.0, abs=0.03)
    beyond_2_sigma = sum(abs(x) > 2.0 for x in draws) / N
    assert beyond_2_sigma == pytest.approx(0.0455, abs=0.005)
