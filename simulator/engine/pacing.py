"""A publish wheel's pace: how many messages each due device sends at a firing, under stages.

A wheel fires each device once per publish interval; a stage asks the fleet for a rate that
is not the devices' own, and that changes as the stage ramps. The wheels are not rebuilt and
no device gets a timer: one :class:`Pace` per group scales the rate at firing time by a
factor ``f`` that the stage driver moves as time passes. A device due at ``t`` sends
``floor(C(t) + u) - floor(C(t) - f + u)`` messages, where ``C`` is the group's credit (the
factor integrated over time, in intervals) and ``u`` in [0, 1) the device's own offset (its
index times the golden ratio, mod 1). Over the devices, which ``u`` spreads evenly, that is
``f`` messages per device and interval: below 1 a deterministic share of firings sends
nothing (each device skips its share in turn, not the same devices every time); above 1 a
firing sends several, stamped with the firing's due time (a burst at the device's phase), so
latency is still measured from each message's intended send time.

Pure: times are seconds since the fleet's epoch, passed in.
"""

from __future__ import annotations

from math import floor

GOLDEN = 0.6180339887498949
"""Spreads the devices' offsets evenly over [0, 1) by index."""


class Pace:
    """The factor a group's devices' rate is scaled by now, and the credit it has built."""

    __slots__ = ("_credit", "_since", "factor", "interval_s")

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.factor = 0.0
        """Messages per device and interval now (0: none sent until the driver sets it)."""
        self._credit = 0.0
        """The factor integrated up to ``_since``, in intervals."""
        self._since = 0.0

    def set(self, t_s: float, factor: float) -> None:
        """From ``t_s`` on, scale the devices' rate by ``factor`` (>= 0)."""
        self._credit += self.factor * (t_s - self._since) / self.interval_s
        self._since = t_s
        self.factor = factor

    def messages(self, t_s: float, index: int) -> int:
        """How many messages device ``index``, due at ``t_s``, sends at this firing."""
        factor = self.factor
        credit = self._credit + factor * (t_s - self._since) / self.interval_s
        offset = (index * GOLDEN) % 1.0
        return floor(credit + offset) - floor(credit - factor + offset)
