"""The three-way decision and the sequential design on simulated data with known answers (rule 14).

Run medians are log-normal (CV 10-16 % between runs, as on a 2-core VM), invocations drift as a whole by
sd 0.02-0.10 in log; the simulations are vectorised over trials and go through the same estimators, one-sided
tests, Holm procedure and sequential levels that compare and validate use."""

from __future__ import annotations

import math

import numpy
import pytest

from bench import config
from bench.analysis.decision import (
    Effect,
    Evidence,
    Thresholds,
    Verdict,
    baseline_arrays,
    decide_family,
    drift_arrays,
    holm_arrays,
    p_same_arrays,
    p_slower_arrays,
    paired_arrays,
    welch_arrays,
)
from bench.analysis.sequential import level, nominal_levels
from bench.results.report import SequentialDesign

ALPHA = 0.05


def family_alarm(shift, se, df, threshold: float) -> float:
    """Share of trials (rows) in which Holm calls any case (column) slower beyond the threshold."""
    return float(holm_arrays(p_slower_arrays(shift, se, df, threshold), ALPHA).any(axis=-1).mean())


def interleaved_runs(rng, trials, cases, runs, cv, drift_sd, slowdown=0.0):
    """(base, new) log run medians of one interleaved invocation: both sides share the invocation's drift and a
    slow trend within it (pairs measured next to each other share it too)."""
    shared = rng.normal(0, drift_sd, (trials, cases, 1)) + numpy.linspace(0, 2 * drift_sd, runs)
    base = shared + rng.normal(0, cv, (trials, cases, runs))
    new = shared + rng.normal(0, cv, (trials, cases, runs)) - math.log(1 - slowdown)
    return base, new


@pytest.mark.parametrize("cases", [6, 30])
@pytest.mark.parametrize("cv,drift_sd", [(0.10, 0.02), (0.16, 0.10)])
def test_interleaved_a_a_false_alarm_is_within_alpha(cases, cv, drift_sd):
    rng = numpy.random.default_rng(cases)
    base, new = interleaved_runs(rng, 2000, cases, 5, cv, drift_sd)
    welch = family_alarm(*welch_arrays(base, new), config.MIN_CHANGE)  # compare without --fail-above
    paired = family_alarm(*paired_arrays(base, new), config.MIN_CHANGE)
    assert welch <= ALPHA and paired <= ALPHA
    assert family_alarm(*welch_arrays(base, new), 0.10) <= 0.005  # --fail-above 10: far from the null's edge


def baseline_set(rng, trials, cases, k, runs, cv, drift_sd):
    """k recorded invocations of every case: (means (trials, cases, k), pooled within variance)."""
    drift = rng.normal(0, drift_sd, (trials, 1, k, 1))  # one invocation moves all its cases alike
    runs_ = drift + rng.normal(0, cv, (trials, cases, k, runs))
    return runs_.mean(axis=-1), runs_.var(axis=-1, ddof=1).mean(axis=-1)


@pytest.mark.parametrize("cases", [6, 30])
@pytest.mark.parametrize("cv,drift_sd", [(0.10, 0.02), (0.10, 0.10), (0.16, 0.05)])
def test_a_a_against_a_baseline_set_with_drift_is_within_alpha(cases, cv, drift_sd):
    rng = numpy.random.default_rng(7 + cases)
    trials, k, runs = 2000, 3, 5
    means, within = baseline_set(rng, trials, cases, k, runs, cv, drift_sd)
    new = rng.normal(0, drift_sd, (trials, 1, 1)) + rng.normal(0, cv, (trials, cases, runs))
    for threshold in (0.0, 0.10):
        assert family_alarm(*baseline_arrays(means, within, runs, new), threshold) <= ALPHA


@pytest.mark.parametrize("cases", [6, 30])
def test_separate_invocations_with_their_measured_drift_stay_within_alpha(cases):
    """Two invocations each drifting by sd 0.08, the drift counted as a baseline set of five measured it."""
    rng = numpy.random.default_rng(11)
    trials, runs, cv, drift_sd = 2000, 5, 0.12, 0.08
    shift_a, shift_b = rng.normal(0, drift_sd, (2, trials, 1, 1))
    base = shift_a + rng.normal(0, cv, (trials, cases, runs))
    new = shift_b + rng.normal(0, cv, (trials, cases, runs))
    alarms = []
    for trial in range(0, trials, 400):  # the drift estimate of each block's baseline set (df 4)
        means, within = baseline_set(rng, 1, 1, 5, runs, cv, drift_sd)
        drift = max(float(means.var(ddof=1) - within.mean() / runs), 0.0)
        block = slice(trial, trial + 400)
        alarms.append(family_alarm(*drift_arrays(base[block], new[block], drift, 4), config.MIN_CHANGE))
    assert numpy.mean(alarms) <= ALPHA


def test_without_drift_separate_invocations_would_raise_false_alarms():
    """Why compare refuses them: Welch across invocations that drift by sd 0.05 alarms far beyond alpha."""
    rng = numpy.random.default_rng(12)
    shift_a, shift_b = rng.normal(0, 0.05, (2, 2000, 1, 1))
    base = shift_a + rng.normal(0, 0.10, (2000, 6, 5))
    new = shift_b + rng.normal(0, 0.10, (2000, 6, 5))
    assert family_alarm(*welch_arrays(base, new), config.MIN_CHANGE) > 2 * ALPHA


def sequential_sequences(rng, trials, design, cv, slowdown, threshold, test="rule"):
    """Simulate every look of ``design`` on ``trials`` interleaved sequences; the look at which the slower test
    first crosses its boundary (0: never), and at which the same test does."""
    n_max = design.max_runs
    shared = numpy.linspace(0, 0.04, n_max)  # a slow trend inside the invocation
    base = shared + rng.normal(0, cv, (trials, n_max))
    new = shared + rng.normal(0, cv, (trials, n_max)) - math.log(1 - slowdown)
    slower_at = numpy.zeros(trials, dtype=int)
    same_at = numpy.zeros(trials, dtype=int)
    for look in range(1, design.max_looks + 1):
        n = design.planned_runs + look - 1
        arrays = paired_arrays if (test == "rule" and n >= config.PAIRED_MIN_PAIRS) else welch_arrays
        shift, se, df = arrays(base[:, :n], new[:, :n])
        at = level(design, n, ALPHA)
        undecided = (slower_at == 0) & (same_at == 0)
        slower_at[undecided & (p_slower_arrays(shift, se, df, threshold) <= at)] = look
        same_at[undecided & (slower_at == 0) & (p_same_arrays(shift, se, df, threshold) <= at)] = look
    return slower_at, same_at


def test_sequential_type_one_error_holds_with_every_look_taken():
    """At the edge of the null (new exactly 1 - X as fast), over 4,000 sequences and all 16 looks: the slower
    test (paired from config.PAIRED_MIN_PAIRS pairs, Welch before) crosses at some look in at most alpha of
    them; a fixed-level test at every look would far exceed it."""
    rng = numpy.random.default_rng(21)
    design = SequentialDesign(3)
    for cv in (0.10, 0.16):
        slower_at, _ = sequential_sequences(rng, 4000, design, cv, 0.10, 0.10)
        assert (slower_at > 0).mean() <= ALPHA
    naive = SequentialDesign(3, max_looks=1)  # alpha at every look, looked at 16 times
    n_max = design.max_runs
    base, new = rng.normal(0, 0.1, (2, 4000, n_max))
    crossed = numpy.zeros(4000, dtype=bool)
    for n in range(3, n_max + 1):
        crossed |= p_slower_arrays(*welch_arrays(base[:, :n], new[:, :n]), 0.0) <= level(naive, 3, ALPHA)
    assert crossed.mean() > 2 * ALPHA


def test_sequential_same_test_error_holds_too():
    """Calling 'same' when new is exactly 1 - X as fast is the other error: also within alpha."""
    rng = numpy.random.default_rng(22)
    _, same_at = sequential_sequences(rng, 4000, SequentialDesign(3), 0.10, 0.10, 0.10)
    assert (same_at > 0).mean() <= ALPHA


def detection_rate(slowdown: float, planned: int, looks: int, cv: float = 0.10, seed: int = 0) -> float:
    rng = numpy.random.default_rng(seed)
    design = SequentialDesign(planned)
    slower_at, _ = sequential_sequences(rng, 2000, design, cv, slowdown, 0.10)
    return float(((slower_at > 0) & (slower_at <= looks)).mean())


def test_power_a_30_percent_slowdown_at_cv_10_is_caught_with_the_budgeted_looks():
    """--fail-above 10, three planned runs and up to 7 added pairs (a few minutes of smoke cases): >= 80 %."""
    assert detection_rate(0.30, planned=3, looks=8) >= 0.80
    assert detection_rate(0.30, planned=5, looks=6) >= 0.80


def test_decide_family_holm_levels_and_bounds_are_consistent():
    """The interval printed is the one the verdict used: a slower case's upper bound is below 1 - X at its level;
    an inconclusive one's interval straddles; a zero-spread case leaves the family."""
    slow = Effect(math.log(0.6), 0.05, 8.0, 5, 5, "Welch")
    unclear = Effect(math.log(0.95), 0.10, 8.0, 5, 5, "Welch")
    flat = Effect(math.log(0.5), 0.0, 8.0, 5, 5, "Welch")
    decisions = decide_family([Evidence("slow", slow), Evidence("unclear", unclear), Evidence("flat", flat)],
                              Thresholds(0.10, 0.10), ALPHA)
    by = {d.key: d for d in decisions}
    assert by["slow"].verdict is Verdict.SLOWER and by["slow"].high < 0.9
    assert by["slow"].level_slower == pytest.approx(ALPHA / 2)  # Holm: the first of two in the family
    assert by["unclear"].verdict is Verdict.INCONCLUSIVE and by["unclear"].low < 0.9 < by["unclear"].high
    assert by["unclear"].level_slower == pytest.approx(ALPHA)  # the second, after one rejection
    assert "could tell >=" in by["unclear"].why and by["unclear"].mde_pct > 10
    assert by["flat"].verdict is Verdict.INCONCLUSIVE and "no spread" in by["flat"].why
    same = decide_family([Evidence("x", Effect(0.0, 0.01, 8.0, 5, 5, "Welch"))], Thresholds(0.01, 0.05), ALPHA)[0]
    assert same.verdict is Verdict.SAME and same.low > 0.95


def test_a_sequential_design_uses_its_levels_by_look():
    design = SequentialDesign(3)
    levels = nominal_levels(ALPHA * config.SEQUENTIAL_ALPHA_SHARE, design.max_looks, design.gamma, 3)
    assert level(design, 3, ALPHA) == levels[0] and level(design, 5, ALPHA) == levels[2]
    assert all(a < b for a, b in zip(levels, levels[1:], strict=False)) and levels[-1] < ALPHA
    assert level(SequentialDesign(3, max_looks=1), 3, ALPHA) == ALPHA
    with pytest.raises(ValueError, match="planned_runs"):
        SequentialDesign(0)
