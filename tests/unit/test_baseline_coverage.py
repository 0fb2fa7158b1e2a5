"""Baseline sets that cover (issue 19, item 5): sittings, the drift validate uses, what --record keeps."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from bench.analysis.baselines import BASELINES, coverage, hardware_drifts, load_baseline, recordable, sittings
from bench.analysis.compare import compare_reports
from bench.analysis.decision import against_baseline
from bench.analysis.stats import Drift, drift_estimate, pooled_drift, shrunk_drift
from bench.run.validate import EXIT_HEALTHY, EXIT_INCONCLUSIVE, decide
from tests.reports import record, report

RUNS = [0.010, 0.0102, 0.0098, 0.0101, 0.0099]
HERE = Path("results/baselines/x")


def at(stamp: str, factor: float = 1.0, **kw):
    return report([record([s * factor for s in RUNS], **kw)], started=stamp)


def test_back_to_back_invocations_are_one_sitting_and_30_minutes_apart_another():
    # each report ends a minute after it starts (tests/reports.py)
    stamps = ["2026-11-30T11:06:00+00:00", "2026-11-30T08:43:00+00:00", "2026-11-30T08:47:00+00:00",
              "2026-11-30T11:10:00+00:00", "2026-11-30T09:17:00+00:00", "2026-11-30T09:47:59+00:00"]
    found = sittings([at(s) for s in stamps])
    # 08:48 end -> 09:17 start is 29 min: the same sitting; 09:18 -> 09:47:59 is 29.98 min: still the same
    assert [s.invocations for s in found] == [4, 2]
    assert found[0].describe() == "2026-11-30 08:43-09:48 UTC (4)"
    assert [s.invocations for s in sittings([at(s) for s in stamps], gap_min=10)] == [2, 1, 1, 2]


def test_fewer_than_three_sittings_is_not_yet_enough():
    two = [at(f"2026-11-30T08:{m:02d}:00+00:00") for m in (0, 4, 8)] + [at("2026-11-30T11:00:00+00:00")]
    covered = coverage(two)
    assert not covered.enough
    assert covered.shortfall().endswith("record 1 more sitting(s) at least 30 min apart: "
                                        "python -m bench validate --record")
    assert "4 recorded invocation(s) in 2 sitting(s)" in covered.shortfall()
    assert coverage([*two, at("2026-12-01T08:00:00+00:00")]).shortfall() is None


def verdict(baseline, new_runs):
    new = report([record(new_runs)], started="2026-12-05T08:00:00+00:00")
    drift = hardware_drifts(baseline, 0.02)
    comparison = compare_reports(baseline, new, margin_pct=10.0, drift=drift)
    return decide([], [], comparison, 10.0, HERE, len(baseline), coverage(baseline))


def test_validate_waits_for_three_sittings_even_with_many_invocations():
    one_sitting = [at(f"2026-11-30T08:{m:02d}:00+00:00", f) for m, f in ((0, 0.99), (4, 1.0), (8, 1.01), (12, 1.0))]
    slow = verdict(one_sitting, [s * 2 for s in RUNS])
    assert slow.exit_code == EXIT_INCONCLUSIVE  # not degraded: one sitting cannot show the drift between sittings
    assert "1 sitting(s)" in slow.line and "record 2 more sitting(s)" in slow.line and "apparently slower" in slow.line
    three = [at(f"2026-11-{day}T08:00:00+00:00", f) for day, f in ((10, 0.99), (11, 1.0), (12, 1.01))]
    same = verdict(three, RUNS)
    assert same.exit_code == EXIT_HEALTHY and "3 recorded invocation(s) in 3 sitting(s)" in same.line


def test_the_committed_baseline_set_is_judged_by_its_sittings():
    """The dev VM's committed set, recorded by `validate --record` in separate sittings: validate judges speed
    against it only once it holds three; with fewer it says how many more to record."""
    folder = next(BASELINES.iterdir())
    baseline = load_baseline(folder)
    covered = coverage(baseline)
    assert all(not r.invocation.interrupted and not r.cases_noisy() for r in baseline)  # --record's rule
    gaps = [later.started - earlier.ended for earlier, later in zip(covered.sittings, covered.sittings[1:],
                                                                    strict=False)]
    assert all(gap.total_seconds() >= 30 * 60 for gap in gaps)
    earlier, latest = baseline[:-1], baseline[-1]  # the last recording judged against the ones before it
    before = coverage(earlier)
    decision = decide([], [], compare_reports(earlier, latest, drift=hardware_drifts(earlier, 0.02)),
                      10.0, folder, len(earlier), before)
    if len(before.sittings) < 3:
        assert decision.exit_code == EXIT_INCONCLUSIVE
        assert f"record {3 - len(before.sittings)} more sitting(s) at least 30 min apart" in decision.line
    else:
        assert before.enough and before.shortfall() is None and "more sitting(s)" not in decision.line


def test_record_keeps_every_run_that_is_neither_broken_nor_noisy():
    quiet = report([record(RUNS)])
    assert recordable(quiet, "degraded") is None  # a slow but clean run is part of the hardware's spread
    assert recordable(quiet, "inconclusive") is None and recordable(quiet, "healthy") is None
    assert recordable(quiet, "broken") == "the run is broken"
    assert recordable(report([record(RUNS, noisy_runs=(0, 1, 2))]), "healthy").startswith(
        "the machine was busy during 1 case(s)")


def test_shrunk_drift_counts_a_cases_excess_by_its_degrees_of_freedom():
    pooled = Drift(0.004, 2)
    assert shrunk_drift((0.0, 2), pooled).variance == pytest.approx(0.004)  # never below the pooled
    assert shrunk_drift((0.012, 2), pooled).variance == pytest.approx(0.008)  # half the excess at equal df
    assert shrunk_drift((0.012, 6), pooled).variance == pytest.approx(0.010)  # 6 / (6 + 2) of it
    assert shrunk_drift(None, pooled, floor_variance=0.01, df=1) == Drift(0.01, 1)


def test_a_drift_given_to_the_baseline_test_replaces_the_cases_own_spread():
    invocations = [[0.010, 0.0101], [0.0100, 0.0099], [0.0101, 0.0100]]  # agree closely with each other
    new = [0.0115, 0.0116]
    from scipy import stats

    own = against_baseline(invocations, new)
    counted = against_baseline(invocations, new, drift=Drift(0.08**2, 2))
    assert stats.t.cdf(own.shift / own.se, own.df) < 0.05  # own spread: a 13 % slowdown stands out
    assert stats.t.cdf(counted.shift / counted.se, counted.df) > 0.05  # the hardware drifts by 8 %
    logs = [[math.log(x) for x in s] for s in invocations]
    within = sum((a - b) ** 2 / 2 for a, b in logs) / 3
    new_logs = [math.log(x) for x in new]
    own_var = (new_logs[0] - new_logs[1]) ** 2 / 2
    pooled = (within * 3 + own_var) / 4  # the baseline's 3 df and the new runs' 1
    drift = 0.08**2
    assert counted.se == pytest.approx(math.sqrt((drift + within / 2) / 3 + drift + pooled / 2))
    assert counted.df == 2 and counted.shift == pytest.approx(sum(sum(s) / 2 for s in logs) / 3 - sum(new_logs) / 2)


def test_identical_machines_are_rarely_called_slower_against_three_sittings():
    """Six cases, a drift between sittings (sd 0.08 in log, half of it shared by every case) and runs at
    CV 3 %: judged against three sittings with the shrunk drift, identical software is called slower
    (one-sided, alpha 5 %) in at most alpha of cases, and a 2x slowdown is caught in nearly all."""
    from scipy import stats

    rng = random.Random(19)
    cases, trials, alarms, caught = 6, 150, 0, 0

    def sitting(slowdown: float = 1.0) -> list[list[float]]:
        shared = rng.gauss(0, 0.08 / math.sqrt(2))
        result = []
        for _ in range(cases):
            moved = shared + rng.gauss(0, 0.08 / math.sqrt(2))
            result.append([slowdown * math.exp(moved + rng.gauss(0, 0.03)) for _ in range(5)])
        return result

    def slower(baseline, new, case) -> bool:
        per_case = [[invocation[c] for invocation in baseline] for c in range(cases)]
        estimates = [drift_estimate(runs) for runs in per_case]
        drift = shrunk_drift(estimates[case], pooled_drift(estimates), 0.02**2, 2)
        effect = against_baseline(per_case[case], new[case], drift)
        return bool(stats.t.cdf(effect.shift / effect.se, effect.df) < 0.05)

    for _ in range(trials):
        baseline = [sitting() for _ in range(3)]
        same, halved = sitting(), sitting(2.0)
        alarms += sum(slower(baseline, same, c) for c in range(cases))
        caught += sum(slower(baseline, halved, c) for c in range(cases))
    assert alarms / (trials * cases) <= 0.05
    assert caught / (trials * cases) >= 0.9


def test_an_interrupted_invocation_is_not_recorded():
    import dataclasses

    stopped = report([record(RUNS)])
    stopped = dataclasses.replace(stopped, invocation=dataclasses.replace(stopped.invocation, interrupted=True))
    assert "interrupted" in recordable(stopped, "healthy")
