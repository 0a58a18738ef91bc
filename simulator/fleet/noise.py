"""Deterministic, stateless pseudo-randomness computed from integers.

A device model needs fresh noise for every sample of every device. A ``random.Random`` per
device costs about 2.5 KB; a million devices cannot afford that. Instead every random draw is a
hash of the integers that identify it (seed, device, sequence number), using the SplitMix64
generator: its n-th output from a starting state ``key`` is ``mix64(key + n * GOLDEN)``, so any
position of any device's stream can be computed directly, with nothing stored but the key.

The outputs are bit-for-bit those of the reference SplitMix64 (``mix64(0)`` is its first output
for seed 0), so streams are the same on every platform and Python version.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache

MASK64 = (1 << 64) - 1
"""Reduces an integer to 64 bits."""

GOLDEN = 0x9E3779B97F4A7C15
"""SplitMix64's increment: 2**64 divided by the golden ratio, made odd."""

_MUL1 = 0xBF58476D1CE4E5B9
_MUL2 = 0x94D049BB133111EB
_TO_UNIT = 2.0**-53
_TO_UNIT32 = 2.0**-32
_TAU = 2.0 * math.pi


def mix64(x: int) -> int:
    """Return SplitMix64's output for state ``x``: one step (``x + GOLDEN``) then its finaliser.

    Any integer is accepted (reduced modulo 2**64); the result is in ``[0, 2**64)``.
    """
    z = (x + GOLDEN) & MASK64
    z = ((z ^ (z >> 30)) * _MUL1) & MASK64
    z = ((z ^ (z >> 27)) * _MUL2) & MASK64
    return z ^ (z >> 31)


def stream(key: int, n: int) -> int:
    """Return the n-th 64-bit output (from 0) of the SplitMix64 stream starting at ``key``."""
    return mix64(key + n * GOLDEN)


def hash64(seed: int, a: int, b: int) -> int:
    """Return a 64-bit hash of three integers; changing any of them changes every bit's odds."""
    return mix64(mix64(mix64(seed) ^ (a & MASK64)) ^ (b & MASK64))


def device_key(seed: int, index: int, model_tag: int) -> int:
    """Return device ``index``'s 60-bit stream key for a run seeded ``seed``.

    ``model_tag`` keeps each model's streams apart from the others' for the same seed and index.
    """
    return hash64(seed, index, model_tag) >> 4


def unit(seed: int, a: int, b: int) -> float:
    """Return a float in ``[0, 1)`` determined by the three integers (53 random bits)."""
    return (hash64(seed, a, b) >> 11) * _TO_UNIT


def uniform_draws(seed: int, a: int) -> Callable[[int, float, float], float]:
    """Return ``draw(b, low, high)``: a float in ``[low, high)`` determined by the three integers.

    What a model draws its table of device profiles with, ``a`` numbering the profile.
    """

    def draw(b: int, low: float, high: float) -> float:
        return low + (high - low) * unit(seed, a, b)

    return draw


def normal(seed: int, a: int, b: int) -> float:
    """Return a standard normal variate determined by the three integers.

    Box-Muller from the two 32-bit halves of one hash: one hash instead of two, and 32 bits per
    uniform still reach 6.6 standard deviations into the tails.
    """
    h = hash64(seed, a, b)
    u1 = ((h >> 32) + 1) * _TO_UNIT32  # in (0, 1], so the logarithm is finite
    u2 = (h & 0xFFFFFFFF) * _TO_UNIT32
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(_TAU * u2)


NOISE_ROWS = 8192
"""Rows in the :func:`noise_rows` table, a power of two."""

NOISE_WIDTH = 8
"""Standard normal draws in each row."""

NOISE_STEP = 5063
"""Stride through the table from one sample to the next: odd, so a device visits every row
before it repeats, and near ``NOISE_ROWS`` over the golden ratio, so neighbours are far apart."""

ROW_MASK = NOISE_ROWS - 1
"""Sample ``seq`` of a device with stream key ``key`` reads row ``(key + seq * NOISE_STEP) &
ROW_MASK`` of the table."""

_ROWS_SEED = 0x6E6F697365  # fixed: the table is the same in every run and process
_CLIP = 3.0


@cache
def noise_rows() -> tuple[tuple[float, ...], ...]:
    """Return a shared table of rows of standard normal draws, clipped to ±3.

    The fast path of per-sample measurement noise: a model reads row
    ``(key + seq * NOISE_STEP) % NOISE_ROWS`` and unpacks it, one tuple lookup instead of a
    hash per sample (a hash costs as much as the rest of a small model's sample). Noise vectors
    repeat after ``NOISE_ROWS`` samples of a device, which no telemetry consumer can tell from
    fresh noise on top of the models' non-periodic behaviour; draws that steer events still
    come from the hash functions above. Clipping keeps every model's declared ranges provable.
    """
    return tuple(
        tuple(
            max(-_CLIP, min(_CLIP, normal(_ROWS_SEED, row, column)))
            for column in range(NOISE_WIDTH)
        )
        for row in range(NOISE_ROWS)
    )
