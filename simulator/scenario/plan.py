"""The plan: who connects when and when each device publishes, as pure functions of time.

Like k6's executors, the plan only answers "what should have happened by ``elapsed_s``"; the
engine's connect pool and scheduler execute it and count how far they fall behind. Nothing here
reads a clock: time is always a parameter.

Onboarding starts device ``i`` at ``i / rate_per_s`` (device 0 at 0). Publishing starts once the
whole fleet is onboarded; device ``i`` then publishes at ``phase_i + n * interval_s`` for
``n = 0, 1, ...``, where the phases are the ``devices`` evenly spaced slots of one interval,
dealt out in a scrambled order so that devices which onboarded together do not publish together.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

from simulator.errors import PlanError

# 1/phi: a stride near devices/phi puts consecutive indexes about 0.618 of an interval apart,
# and successive ones keep splitting the largest remaining gap (the golden-ratio sequence).
_INVERSE_GOLDEN_RATIO = (math.sqrt(5.0) - 1.0) / 2.0


class OnboardingPlan:
    """When each device's connect should start: device ``i`` at ``i / rate_per_s`` seconds."""

    __slots__ = ("_devices", "_rate_per_s")

    def __init__(self, devices: int, rate_per_s: float) -> None:
        """Plan ``devices`` connects started at ``rate_per_s`` per second.

        Raises:
            PlanError: if ``devices`` is negative or ``rate_per_s`` is not a positive finite number.
        """
        if devices < 0:
            raise PlanError(f"devices must be >= 0, got {devices}")
        if not (math.isfinite(rate_per_s) and rate_per_s > 0.0):
            raise PlanError(f"rate_per_s must be a positive finite number, got {rate_per_s}")
        self._devices = devices
        self._rate_per_s = rate_per_s

    @property
    def devices(self) -> int:
        """How many connects the plan starts in all."""
        return self._devices

    @property
    def rate_per_s(self) -> float:
        """Connects started per second."""
        return self._rate_per_s

    def start_s(self, index: int) -> float:
        """Seconds after onboarding begins at which device ``index``'s connect is due."""
        return index / self._rate_per_s

    def due(self, elapsed_s: float) -> int:
        """How many connects should have been started ``elapsed_s`` seconds in.

        Exactly the number of indexes ``i < devices`` with ``start_s(i) <= elapsed_s``: the
        estimate from ``elapsed_s * rate`` is corrected against :meth:`start_s` itself, so the
        two never disagree by a rounding error at a boundary.
        """
        if self._devices == 0 or elapsed_s < 0.0:
            return 0
        if elapsed_s >= self.eta_s():
            return self._devices
        last = min(int(elapsed_s * self._rate_per_s), self._devices - 1)
        while last + 1 < self._devices and self.start_s(last + 1) <= elapsed_s:
            last += 1
        while last >= 0 and self.start_s(last) > elapsed_s:
            last -= 1
        return last + 1

    def eta_s(self) -> float:
        """Seconds after onboarding begins at which the last connect is due (0 for no devices)."""
        return self.start_s(max(self._devices - 1, 0))

    def __repr__(self) -> str:
        return f"OnboardingPlan(devices={self._devices}, rate_per_s={self._rate_per_s})"


def publish_slot(index: int, devices: int) -> int:
    """The phase slot (``0..devices-1``) of device ``index``: a permutation of the indexes.

    Slot ``k`` means a phase of ``k / devices`` of an interval. The stride is coprime with
    ``devices``, so every slot is used exactly once, and close to ``devices / phi``, so devices
    with consecutive indexes land far apart.

    Raises:
        PlanError: if ``index`` is not in ``0..devices-1``.
    """
    if not 0 <= index < devices:
        raise PlanError(f"index must be in 0..{devices - 1}, got {index}")
    return (index * _stride(devices)) % devices


def publish_phase_s(index: int, devices: int, interval_s: float) -> float:
    """Offset within one publish interval at which device ``index`` of ``devices`` publishes.

    The phases of a fleet are the ``devices`` evenly spaced points ``k * interval_s / devices``,
    one per device (see :func:`publish_slot`), so the fleet's load is flat over the interval.

    Raises:
        PlanError: if ``index`` is not in ``0..devices-1``.
    """
    return publish_slot(index, devices) * interval_s / devices


def expected_messages(devices: int, interval_s: float, window_s: float) -> int:
    """How many publishes the fleet makes in the first ``window_s`` seconds of publishing.

    Counts the exact times ``phase + n * interval_s`` strictly before ``window_s`` over all
    devices. The phases are the points ``k * interval_s / devices``, so together the fleet
    publishes at every multiple of ``interval_s / devices``, and the count is the number of
    those multiples in ``[0, window_s)``. Computed with exact fractions of the given floats.

    Raises:
        PlanError: if ``interval_s`` is not a positive finite number.
    """
    if not (math.isfinite(interval_s) and interval_s > 0.0):
        raise PlanError(f"interval_s must be a positive finite number, got {interval_s}")
    if devices <= 0 or window_s <= 0.0:
        return 0
    return math.ceil(Fraction(window_s) * devices / Fraction(interval_s))


@lru_cache(maxsize=64)
def _stride(devices: int) -> int:
    # A fleet has one size, so this search runs once per size however many devices ask.
    # It ends by distance target - 1 at the latest, since 1 is coprime with every size.
    target = max(1, round(devices * _INVERSE_GOLDEN_RATIO))
    distance = 0
    while True:
        for stride in (target - distance, target + distance):
            if stride >= 1 and math.gcd(stride, devices) == 1:
                return stride
        distance += 1
