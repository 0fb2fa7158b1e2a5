"""Run-level statistics on synthetic data with known answers (DESIGN.md rule 10): the gate's error rates
through compare, and the drift between invocations that a baseline set measures."""

from __future__ import annotations

import math
import random

from bench.analysis.compare import Verdict, compare_reports
from bench.analysis.decision import across_invocations, welch
from bench.analysis.stats import drift_estimate, pooled_drift
from tests.reports import record, report

CASES = 7  # like the smoke suite


def runs(rng: random.Random, n: int, spread: float, shift: float = 1.0, bimodal: bool = False) -> list[float]:
    """Run medians of step time: log-normal between-run noise, or the two 'modes' a 2-core VM shows."""
    if bimodal:
        return [shift * rng.choice((1.0, 1.4)) * math.exp(rng.gauss(0, 0.04)) for _ in range(n)]
    return [shift * math.exp(rng.gauss(0, spread)) for _ in range(n)]


def gate_trips(rng, n: int, shift: float, bimodal: bool = False, fail_above: float = 5.0) -> bool:
    """One simulated comparison of CASES cases (the first shifted): does --fail-above trip?"""
    base = report([record(runs(rng, n, 0.2, 1.0, bimodal), batch_size=i + 1) for i in range(CASES)])
    new = report([record(runs(rng, n, 0.2, shift if i == 0 else 1.0, bimodal), batch_size=i + 1)
                  for i in range(CASES)])
    return bool(compare_reports(base, new, margin_pct=fail_above).regressions(fail_above))


def test_identical_software_trips_the_gate_within_alpha():
    """A/A with 20 % between-run noise: the gate trips in at most alpha (5 %) of comparisons."""
    rng = random.Random(1)
    for bimodal in (False, True):
        rate = sum(gate_trips(rng, 5, 1.0, bimodal) for _ in range(120)) / 120
        assert rate <= 0.05, (bimodal, rate)


def two_sided_p(effect) -> float:
    from scipy import stats

    return float(2 * stats.t.sf(abs(effect.shift / effect.se), effect.df))


def test_a_two_fold_slowdown_is_caught():
    rng = random.Random(2)
    assert sum(gate_trips(rng, 5, 2.0) for _ in range(100)) >= 85


def test_verdicts_on_known_data():
    base = report([record([0.010, 0.0101, 0.0099], batch_size=1)])
    slower = report([record([0.013, 0.0131, 0.0129], batch_size=1)])
    assert compare_reports(base, slower).cases[0].verdict is Verdict.SLOWER
    same = report([record([0.01001, 0.01, 0.00999], batch_size=1)])
    assert compare_reports(base, same).cases[0].verdict is Verdict.SAME


def test_a_few_invocations_pool_the_drift_over_cases():
    """Three recorded invocations give each case a drift estimate with 2 degrees of freedom, zero in about
    a fifth of trials where the case drifts by 12 %: counted case by case, back-to-back A/A trips in ~9.5 %
    of comparisons (alpha 5 %); pooled over the hardware's cases, in ~1.5 %; not counted at all (Welch
    across invocations), far more often."""
    from bench.analysis.stats import Drift

    rng = random.Random(6)

    def invocation(shift=1.0):
        return runs(rng, 5, 0.15, shift * math.exp(rng.gauss(0, 0.12)))

    own_zero = own_alarms = pooled_alarms = naive_alarms = 0
    trials = 400
    for _ in range(trials):
        baseline = [[invocation() for _ in range(3)] for _case in range(CASES)]
        own = Drift.clipped(*drift_estimate(baseline[0]))
        pooled = pooled_drift([drift_estimate(case) for case in baseline])
        a, b = invocation(), invocation()
        own_zero += own.variance == 0
        own_alarms += two_sided_p(across_invocations(a, b, own)) < 0.05
        pooled_alarms += two_sided_p(across_invocations(a, b, pooled)) < 0.05
        naive_alarms += two_sided_p(welch(a, b)) < 0.05
    assert own_zero / trials > 0.15
    assert own_alarms / trials > 0.07
    assert pooled_alarms / trials <= 0.05
    assert naive_alarms / trials > 0.2  # why compare refuses separate invocations whose drift is unknown
