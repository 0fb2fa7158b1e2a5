"""Calibration, warm-up and statistics driven by a fake clock."""

from __future__ import annotations

import pytest

from bench.config import TimingRules
from bench.measure.timing import DeviceClock, is_steady, steps_for, summarize, time_round, warm_until_steady


class FakeClock:
    """Time advances only when a fake step runs; durations are scripted."""

    def __init__(self) -> None:
        self.t = 0.0
        self.reads = 0

    def now(self) -> float:
        self.reads += 1
        return self.t


def scripted_step(clock: FakeClock, durations):
    iterator = iter(durations)

    def step():
        clock.t += next(iterator)
    return step


def test_steps_per_round_reach_the_minimum_round_time():
    assert steps_for(0.003, 0.1) == 34
    assert steps_for(0.5, 0.1) == 1
    assert steps_for(0.0, 0.1) == 1
    assert steps_for(0.001, 0.1) * 0.001 >= 0.1


def test_a_round_is_timed_at_its_ends_only():
    clock = FakeClock()
    assert time_round(scripted_step(clock, [0.01] * 7), 7, clock) == pytest.approx(0.07)
    assert clock.reads == 2


def test_device_clock_synchronises_before_reading():
    calls = []
    clock = DeviceClock(lambda: calls.append("sync"))
    clock.now()
    clock.now()
    assert calls == ["sync", "sync"]


def test_warm_up_runs_until_the_step_time_settles():
    clock = FakeClock()
    slow_start = [0.010, 0.008, 0.006, 0.004, 0.002] * 20  # a GPU clocking up
    step = scripted_step(clock, slow_start + [0.001] * 100_000)
    rules = TimingRules(min_round_s=0.1, warmup_max_s=60.0, warmup_min_rounds=3, steady_tolerance=0.03)
    warmup, step_s = warm_until_steady(step, clock, rules, first_step_s=0.010)
    assert warmup.steady
    assert step_s == pytest.approx(0.001)
    assert warmup.rounds >= 4  # it did not stop while the time was still falling
    assert steps_for(step_s, rules.min_round_s) == 100


def test_warm_up_gives_up_at_its_time_limit_and_says_so():
    clock = FakeClock()
    drifting = (0.001 * 1.01**i for i in range(1_000_000))  # a GPU that keeps throttling
    step = scripted_step(clock, drifting)
    rules = TimingRules(min_round_s=0.01, warmup_max_s=1.0, warmup_min_rounds=3, steady_tolerance=0.01)
    warmup, _ = warm_until_steady(step, clock, rules, first_step_s=0.001)
    assert not warmup.steady
    assert 1.0 <= warmup.seconds < 1.5


def test_is_steady_window():
    assert is_steady([5.0, 1.0, 1.01, 0.99], 3, 0.03)
    assert not is_steady([1.0, 1.1, 0.9], 3, 0.03)
    assert not is_steady([1.0, 1.0], 3, 0.03)


def test_statistics_are_per_step_from_raw_rounds():
    rules = TimingRules()
    step = summarize([0.100, 0.102, 0.098, 0.101, 0.099], 100, rules)
    assert step.median_s == pytest.approx(0.001)
    assert step.stats.rounds == 5
    assert step.round_s == (0.100, 0.102, 0.098, 0.101, 0.099)
    assert step.iqr_s == pytest.approx(0.000025)  # pytest-benchmark quartiles of the per-step times
    assert step.cv == pytest.approx(0.0158, rel=0.01)
    assert step.unstable_reasons == ()


def test_pyperf_instability_rules():
    rules = TimingRules()
    noisy = summarize([0.10, 0.10, 0.10, 0.10, 0.20], 1, rules)
    assert any("std/mean" in reason for reason in noisy.unstable_reasons)
    assert any(reason.startswith("max is") for reason in noisy.unstable_reasons)
    assert summarize([0.10, 0.105, 0.10, 0.095, 0.10], 1, rules).unstable_reasons == ()


def test_a_case_flags_its_unstable_runs_in_the_summary():
    from bench.render.run import flags_of
    from tests.reports import record, run

    rules = TimingRules()
    steady = record([0.01, 0.01])
    shaky = type(steady)(steady.case, steady.status, None, [run(0.01, 0), run(0.01, 1, jitter=0.6, seed=3)])
    assert steady.unstable_runs(rules) == [] and not any("unstable" in f for f in flags_of(steady, rules))
    assert [r.index for r in shaky.unstable_runs(rules)] == [1]
    assert "unstable rounds in 1 of 2 runs" in " ".join(flags_of(shaky, rules))
