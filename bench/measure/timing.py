"""Timing: a device-synchronising clock, warm-up until steady, calibration, the timed rounds.

No torch import at module level and no printing: the clock is injected, so tests
drive every rule with a fake clock. Figures derived from the rounds are the records'
(bench/results/records.py); pytest-benchmark's per-step Stats are built for its JSON only.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import statistics
import time
from collections.abc import Callable
from typing import Protocol

from bench.config import TimingRules


class Clock(Protocol):
    def now(self) -> float:
        """Seconds, read after all queued device work has finished."""


class DeviceClock:
    """time.perf_counter() after synchronising the device (CUDA work is asynchronous)."""

    def __init__(self, synchronize: Callable[[], None] | None = None) -> None:
        self.synchronize = synchronize

    def now(self) -> float:
        if self.synchronize is not None:
            self.synchronize()
        return time.perf_counter()


class SlowedClock:
    """Test-only (TORCHRIG_FAULT ``slow:F``): a real slowdown of fraction F. Each reading first sleeps F times the
    time since the previous one, so that a round of K steps lasts (1 + F) times its work, warm-up and
    calibration included, as on a node whose every step is that much slower."""

    def __init__(self, inner: Clock, fraction: float) -> None:
        self.inner, self.fraction = inner, fraction
        self.last: float | None = None

    def now(self) -> float:
        current = self.inner.now()
        if self.last is not None and current > self.last:
            time.sleep(self.fraction * (current - self.last))
            current = self.inner.now()
        self.last = current
        return current


def time_round(step: Callable[[], None], steps: int, clock: Clock) -> float:
    """Seconds for ``steps`` back-to-back steps, synchronised only at the round's ends."""
    start = clock.now()
    for _ in range(steps):
        step()
    return clock.now() - start


def steps_for(step_s: float, min_round_s: float) -> int:
    """Steps per round so that a round lasts at least ``min_round_s``."""
    if step_s <= 0:
        return 1
    return max(1, math.ceil(min_round_s / step_s))


@dataclasses.dataclass(frozen=True)
class Warmup:
    rounds: int
    seconds: float
    steady: bool
    steps_per_round: int
    cap_s: float  # the warm-up's time limit: not steady means it ran into it


# sd of one round = 1.4826 * MAD / sqrt(2) for the successive differences of normal noise (MAD: the median
# absolute deviation from their median, so that a steady trend, which shifts every difference alike, drops out)
_SD_PER_DIFFERENCE_MAD = 1.4826 / math.sqrt(2)
# sd of the median of n rounds / sd of their mean (large-n value sqrt(pi/2); 1.16 at n = 3)
_MEDIAN_EFFICIENCY = math.sqrt(math.pi / 2)


def round_spread(step_s: list[float]) -> float:
    """A robust standard deviation of one round, from the successive differences of the rounds (centred
    on their median: a steady trend does not count as spread, nor does one outlier)."""
    if len(step_s) < 3:
        return 0.0
    differences = [b - a for a, b in itertools.pairwise(step_s)]
    middle = statistics.median(differences)
    return statistics.median(abs(d - middle) for d in differences) * _SD_PER_DIFFERENCE_MAD


def settled(step_s: list[float], window: int, spreads: float, floor: float) -> bool:
    """Steady: the median of the last ``window`` rounds (per-step seconds) lies within ``spreads`` standard
    errors of the median of the ``window`` rounds before it, the errors from those rounds' own robust
    spread (round_spread); or within ``floor`` (relative) of it whatever the spread. A warm-up that still
    decays or trends moves the window median by more than its noise; a stationary noisy one does not,
    however large its noise (rule 3: relative to the run's own round spread)."""
    if len(step_s) < 2 * window:
        return False
    recent = step_s[-2 * window:]
    now, before = statistics.median(recent[window:]), statistics.median(recent[:window])
    if now <= 0:
        return False
    standard_error = _MEDIAN_EFFICIENCY * round_spread(recent) * math.sqrt(2 / window)
    return abs(now - before) <= max(spreads * standard_error, floor * now)


Agree = Callable[[bool, int], tuple[bool, int]]


def alone(done: bool, steps: int) -> tuple[bool, int]:
    """The agreement of a single process: its own decision."""
    return done, steps


def warm_until_steady(step: Callable[[], None], clock: Clock, rules: TimingRules,
                      first_step_s: float, agree: Agree = alone) -> tuple[Warmup, float]:
    """Run calibrated rounds until their times settle (an idle GPU clocks down), or until
    ``rules.warmup_max_s`` (then the record says it did not settle, and under which cap).

    ``agree`` makes processes that step together (data-parallel ranks) take the
    same decisions: stop when all are done, and use the largest step count.
    Returns the warm-up record and the step time of the settled rounds.
    """
    _, steps = agree(False, steps_for(first_step_s, rules.min_round_s))
    step_s: list[float] = []  # per-step seconds of each round (steps per round grow while recalibrating)
    start = clock.now()
    while True:
        step_s.append(time_round(step, steps, clock) / steps)
        elapsed = clock.now() - start
        steady = settled(step_s, rules.warmup_min_rounds, rules.steady_spreads, rules.steady_tolerance)
        # recalibrate while the step time is still moving
        wanted = max(steps, steps_for(step_s[-1], rules.min_round_s))
        done, wanted = agree(steady or elapsed >= rules.warmup_max_s, wanted)
        if done:
            break
        steps = wanted
    settled_s = statistics.median(step_s[-rules.warmup_min_rounds:])
    return Warmup(len(step_s), elapsed, steady, steps, rules.warmup_max_s), settled_s


def measure_rounds(step: Callable[[], None], clock: Clock, rules: TimingRules, steps: int) -> list[float]:
    return [time_round(step, steps, clock) for _ in range(rules.rounds)]
