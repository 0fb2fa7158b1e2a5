"""Timing: a device-synchronising clock, warm-up until steady, calibration, statistics.

No torch import at module level and no printing: the clock is injected, so tests
drive every rule with a fake clock. Statistics come from pytest-benchmark's Stats.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Callable
from typing import Protocol

from pytest_benchmark.stats import Stats

from bench.config import TimingRules
from bench.results.records import unstable_reasons


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


def is_steady(round_s: list[float], window: int, tolerance: float) -> bool:
    """The last ``window`` rounds lie within ``tolerance`` of their median."""
    if len(round_s) < window:
        return False
    recent = round_s[-window:]
    middle = statistics.median(recent)
    return middle > 0 and (max(recent) - min(recent)) / middle <= tolerance


Agree = Callable[[bool, int], tuple[bool, int]]


def alone(done: bool, steps: int) -> tuple[bool, int]:
    """The agreement of a single process: its own decision."""
    return done, steps


def warm_until_steady(step: Callable[[], None], clock: Clock, rules: TimingRules,
                      first_step_s: float, agree: Agree = alone) -> tuple[Warmup, float]:
    """Run calibrated rounds until their times settle (an idle GPU clocks down).

    ``agree`` makes processes that step together (data-parallel ranks) take the
    same decisions: stop when all are done, and use the largest step count.
    Returns the warm-up record and the step time of the settled rounds.
    """
    _, steps = agree(False, steps_for(first_step_s, rules.min_round_s))
    round_s: list[float] = []
    start = clock.now()
    while True:
        round_s.append(time_round(step, steps, clock))
        elapsed = clock.now() - start
        steady = is_steady(round_s, rules.warmup_min_rounds, rules.steady_tolerance)
        # recalibrate while the step time is still moving
        wanted = max(steps, steps_for(round_s[-1] / steps, rules.min_round_s))
        done, wanted = agree(steady or elapsed >= rules.warmup_max_s, wanted)
        if done:
            break
        steps = wanted
    window = round_s[-rules.warmup_min_rounds:]
    step_s = statistics.median(window) / steps
    return Warmup(len(round_s), elapsed, steady, steps), step_s


@dataclasses.dataclass(frozen=True)
class StepStats:
    """Per-step statistics of one case, from the raw round times."""

    stats: Stats  # pytest-benchmark's: per-step seconds in .data
    round_s: tuple[float, ...]
    steps_per_round: int
    unstable_reasons: tuple[str, ...]

    @property
    def median_s(self) -> float:
        return self.stats.median

    @property
    def iqr_s(self) -> float:
        return self.stats.iqr

    @property
    def cv(self) -> float:
        return self.stats.stddev / self.stats.mean if self.stats.mean else 0.0


def summarize(round_s: list[float], steps_per_round: int, rules: TimingRules) -> StepStats:
    stats = Stats()
    for seconds in round_s:
        stats.update(seconds / steps_per_round)
    return StepStats(stats, tuple(round_s), steps_per_round, unstable_reasons(stats.data, rules))


def measure_rounds(step: Callable[[], None], clock: Clock, rules: TimingRules, steps: int) -> list[float]:
    return [time_round(step, steps, clock) for _ in range(rules.rounds)]
