"""Equipment regimes in time: a semi-Markov chain that follows the shift calendar.

A machine is in one regime at a time (idle, setup, running, alarm, ...) for a dwell drawn when
it enters: at least ``min_s``, exponential beyond that with mean ``mean_s``. When a regime ends
the next one is drawn from its exits. Off shift every machine rests (its ``rest`` regime, shown
as idle) until the next shift starts, when it enters ``start`` (setup, warm-up). A dwell never
outlasts the shift it began in.

Every draw is a hash of the device key and the moment of the change, so a device's regimes are
a function of (seed, index) and time alone: how often it is sampled does not change its story,
rates are per hour and not per sample, and a device state needs only the regime and the time it
ends. Models sample only the end time each message and call :meth:`Chain.step` (one hash) when it
has passed, which is rare.

Also here: :func:`anchor`, the first-order lag the models use for temperatures and other levels
that move toward a regime's target without jumping; :func:`enter`, which puts a device in a
regime with its curve anchored; and :func:`advance`, the whole regime step of a model whose
state is only its regime and that one curve.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from simulator.fleet.noise import mix64
from simulator.fleet.shift import ShiftCalendar

_SCALE24 = 1 << 24
_TO_UNIT24 = 2.0**-24
_FIRST_TAG = 0x4649525354  # the draw for t = 0 is apart from every change's draw

ABOVE = 8
"""The mode bit :func:`anchor` sets when a level approaches its target from above."""
_REGIME_BITS = ABOVE - 1  # a mode's bits 0-2: the regime


@dataclass(frozen=True, slots=True)
class Regime:
    """One regime of a machine: its name, how long it lasts and where it goes next."""

    name: str
    """The state name a sample reports, e.g. ``running``."""
    mean_s: float
    """Mean dwell, seconds; at least ``min_s``."""
    min_s: float
    """Shortest dwell, seconds; above 0."""
    exits: tuple[tuple[int, float], ...] = ()
    """``(next regime, probability)`` pairs summing to 1; empty only for forced-entry regimes
    that always lead to the shift's start regime."""


class Chain:
    """A semi-Markov chain of :class:`Regime` s, stepped at the moments regimes end."""

    __slots__ = ("_exits", "_initial", "names", "regimes", "rest", "start", "state_names")

    def __init__(
        self,
        regimes: Sequence[Regime],
        *,
        rest: int,
        start: int,
        initial: Sequence[float],
    ) -> None:
        """Build a chain.

        ``rest`` is the regime off shift, ``start`` the one every shift begins with, and
        ``initial`` the odds of each regime for a device already on shift when the run starts.
        """
        self.regimes = tuple(regimes)
        """Every regime, by number."""
        self.names = tuple(regime.name for regime in self.regimes)
        """Each regime's name, by number: the state a sample reports in it."""
        self.state_names = tuple(dict.fromkeys(self.names))
        """Every state a sample can report, each once, in regime order (the rest regime
        shares its name with another, such as ``idle``)."""
        self.rest = rest
        """The regime a machine is in off shift."""
        self.start = start
        """The regime every shift starts with."""
        self._exits = tuple(_thresholds(r.exits, start) for r in self.regimes)
        self._initial = _thresholds(tuple(enumerate(initial)), start)

    def first(self, key: int, calendar: ShiftCalendar) -> tuple[int, float, int]:
        """Return the regime device ``key`` is in at t = 0, when it ends, and the draw used."""
        h = mix64(key ^ _FIRST_TAG)
        on, change = calendar.at(0.0)
        if not on:
            return self.rest, change, h
        regime = _pick(self._initial, h & 0xFFFFFF)
        return regime, self._until(regime, h, 0.0, change), h

    def step(
        self, key: int, regime: int, at: float, calendar: ShiftCalendar, forced: int = -1
    ) -> tuple[int, float, int]:
        """Leave ``regime`` at run time ``at``: return the next regime, when it ends, the draw.

        Off shift the next regime is ``rest``; on shift it is ``forced`` if that is given
        (a tool worn out), else drawn from the exits. Bits 48-63 of the returned 64-bit draw
        are unused here, for the model's own choices at the change.
        """
        h = mix64(key ^ int(at * 1024.0))
        on, change = calendar.at(at)
        if not on:
            return self.rest, change, h
        if forced >= 0:
            nxt = forced
        elif regime == self.rest:
            nxt = self.start
        else:
            nxt = _pick(self._exits[regime], h & 0xFFFFFF)
        return nxt, self._until(nxt, h, at, change), h

    def _until(self, regime: int, h: int, at: float, change: float) -> float:
        spec = self.regimes[regime]
        u = (((h >> 24) & 0xFFFFFF) + 1) * _TO_UNIT24  # in (0, 1]: log() is finite
        dwell = spec.min_s - (spec.mean_s - spec.min_s) * math.log(u)
        return min(at + dwell, change)


def _thresholds(exits: Sequence[tuple[int, float]], fallback: int) -> tuple[tuple[int, int], ...]:
    """Cumulative 24-bit thresholds; a draw beyond the last (rounding) takes the last exit."""
    table = []
    total = 0.0
    for nxt, probability in exits:
        if probability > 0.0:
            total += probability
            table.append((nxt, int(total * _SCALE24)))
    return tuple(table) or ((fallback, _SCALE24),)


def _pick(table: tuple[tuple[int, int], ...], draw: int) -> int:
    for nxt, threshold in table:
        if draw < threshold:
            return nxt
    return table[-1][0]


def anchor(level: float, target: float, tau_s: float, at: float) -> tuple[int, float]:
    """Anchor a first-order lag from ``level`` at ``at`` toward ``target``, time constant ``tau_s``.

    Returns ``(above, t0)`` such that ``target + sign * exp((t0 - t) / tau_s)`` is ``level`` at
    ``at`` and approaches ``target`` after, where ``sign`` is +1 when ``above`` is
    :data:`ABOVE` and -1 when it is 0. One float and one mode bit hold a whole curve; the
    curve stays between ``level`` and ``target``, so a signal built on it never jumps or
    overshoots.
    """
    gap = level - target
    if gap == 0.0:
        return 0, -math.inf  # already there: the curve is flat at the target
    return (ABOVE if gap > 0.0 else 0), at + tau_s * math.log(abs(gap))


def level_at(target: float, above: int, t0: float, tau_s: float, t_s: float) -> float:
    """Return the lag curve anchored by :func:`anchor` at run time ``t_s``."""
    gap = math.exp((t0 - t_s) / tau_s)
    return target + gap if above else target - gap


def enter(
    state: RegimeState,
    regime: int,
    until: float,
    at: float,
    *,
    level: float,
    target: float,
    tau_s: float,
    bits: int = 0,
) -> None:
    """Put ``state`` in ``regime`` from ``at`` until ``until``, its slow curve anchored there.

    The curve leaves ``level`` toward ``target`` with time constant ``tau_s`` (see
    :func:`anchor`); ``bits`` are the model's own bits of ``mode``, above :data:`ABOVE`.
    """
    above, t0 = anchor(level, target, tau_s, at)
    state.mode = regime | above | bits
    state.until = until
    state.t0 = t0


def advance(
    state: RegimeState, t_s: float, chain: Chain, targets: Sequence[float], tau_s: float
) -> None:
    """Step the regimes from their end at ``state.until`` until one lasts past ``t_s``.

    For a model whose mode holds only the regime and whose one slow curve moves toward
    ``targets[regime]`` with time constant ``tau_s``.
    """
    while state.until <= t_s:
        at = state.until
        regime = state.mode & _REGIME_BITS
        level = level_at(targets[regime], state.mode & ABOVE, state.t0, tau_s, at)
        nxt, until, _ = chain.step(state.key, regime, at, state.calendar)
        enter(state, nxt, until, at, level=level, target=targets[nxt], tau_s=tau_s)


class RegimeState:
    """What every regime-driven model keeps per device; each model adds its counters.

    Five slots: the device's stream key, the run's shared shift calendar, ``mode`` (the current
    regime and the model's packed bits, see each model's state class), the run time at which
    the regime ends, and the anchor of the model's slow curve (see :func:`anchor`).
    """

    __slots__ = ("calendar", "key", "mode", "t0", "until")

    def __init__(self, key: int, calendar: ShiftCalendar) -> None:
        self.key = key
        """60-bit stream key from (seed, index); bits 20-29 pick the device's profile."""
        self.calendar = calendar
        """The run's shared shift calendar."""
        self.mode = 0
        """The regime and the model's packed bits."""
        self.until = 0.0
        """Run time at which the current regime ends."""
        self.t0 = 0.0
        """Anchor of the model's slow curve (or what its state class says it holds)."""
