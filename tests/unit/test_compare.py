"""compare on synthetic reports: verdicts, noise, baseline sets, what differs between the sides."""

from __future__ import annotations

import pytest

from bench.analysis.compare import Verdict, compare_reports
from bench.results.records import Status
from tests.reports import record, report

QUICK = [0.010, 0.0102, 0.0098, 0.0101, 0.0099]


def verdict(base, new, **options):
    (row,) = compare_reports(report([base]), report([new]), **options).cases
    return row


def test_a_clear_slowdown_is_slower_and_trips_the_gate():
    row = verdict(record(QUICK), record([s * 1.3 for s in QUICK]))
    assert row.verdict is Verdict.SLOWER and row.change_pct == pytest.approx(-23.1, abs=0.2)
    assert row.decision.p_slower <= row.decision.level_slower and row.estimate.ci_high < 0.99
    assert row.decision.effect.method == "Welch"  # five runs a side: fewer than config.PAIRED_MIN_PAIRS
    base, new = report([record(QUICK)]), report([record([s * 1.3 for s in QUICK])])
    assert compare_reports(base, new, fail_above_pct=10.0).regressions()
    beyond = compare_reports(base, new, fail_above_pct=30.0)  # 23 % slower is not shown slower than 0.70x
    assert not beyond.regressions() and beyond.cases[0].verdict is Verdict.INCONCLUSIVE


def test_a_change_under_one_percent_is_never_called():
    row = verdict(record(QUICK), record([s * 1.005 for s in QUICK]))
    assert row.verdict is Verdict.SAME


def test_too_few_runs_or_too_much_spread_is_inconclusive():
    assert verdict(record([0.01]), record([0.01])).verdict is Verdict.INCONCLUSIVE
    wide = verdict(record([0.01, 0.02, 0.013]), record([0.011, 0.019, 0.014]))
    assert wide.verdict is Verdict.INCONCLUSIVE and "could tell >=" in wide.why and wide.mde_pct > 30


def test_a_busy_machine_is_noisy_never_slower():
    busy = record([s * 2 for s in QUICK], noisy_runs=(0, 1, 2, 3, 4))
    row = verdict(record(QUICK), busy)
    assert row.verdict is Verdict.NOISY and "other processes used 1.00 CPU cores" in row.why
    assert not compare_reports(report([record(QUICK)]), report([busy])).regressions(5.0)


def test_one_noisy_run_is_set_aside_and_the_rest_decide():
    one_spike = record([*(s * 1.3 for s in QUICK[:4]), 0.05], noisy_runs=(4,))
    row = verdict(record(QUICK), one_spike)
    assert row.verdict is Verdict.SLOWER and row.estimate.n_new == 4


def test_unmeasured_sides_are_not_comparable():
    row = verdict(record(QUICK), record([], status=Status.OOM))
    assert row.verdict is Verdict.NOT_COMPARABLE and row.why == "ok -> oom"


def test_a_baseline_set_judges_against_the_spread_of_its_invocations():
    drifting = [report([record([s * f for s in QUICK])]) for f in (0.9, 1.0, 1.1)]  # +-10 % between invocations
    within = compare_reports(drifting, report([record([s * 1.05 for s in QUICK])]))
    assert within.cases[0].estimate.n_base == 3  # invocations, not runs
    assert within.cases[0].verdict is not Verdict.SLOWER  # one report alone would have called 5 % slower
    assert compare_reports(drifting[1], report([record([s * 1.05 for s in QUICK])]), fail_above_pct=2.0).regressions()
    halved = compare_reports(drifting, report([record([s * 2 for s in QUICK])]))
    assert halved.cases[0].verdict is Verdict.SLOWER


def test_only_in_one_side_and_differences():
    base = report([record(QUICK), record(QUICK, batch_size=8)], env={"OMP_NUM_THREADS": "2"})
    new = report([record(QUICK), record(QUICK, backend="compile")], env={"OMP_NUM_THREADS": "1"})
    comparison = compare_reports(base, new)
    assert comparison.only_base == ["cnn-train-eager-fp32-bs8-cpu"]
    assert comparison.only_new == ["cnn-train-compile-fp32-bs64-cpu"]
    assert ("$OMP_NUM_THREADS", "2", "1") in comparison.differences
    assert compare_reports(base, base).differences == []


def test_the_basis_of_a_comparison_says_how_drift_was_handled():
    from bench.analysis.baselines import hardware_drifts as drifts

    base, new = report([record(QUICK)]), report([record([s * 1.3 for s in QUICK])])
    new.invocation.started = "2026-11-30T01:00:00+00:00"  # another invocation
    assert "not known" in compare_reports(base, new).basis
    refused = compare_reports(base, new)  # run level, drift could be called: no decision instead
    assert refused.cases[0].verdict is Verdict.INCONCLUSIVE and refused.refused and "--setup" in refused.refused
    history = [report([record([s * f for s in QUICK])], started=f"2026-11-30T0{hour}:00:00+00:00")
               for hour, f in ((1, 0.8), (3, 1.0), (5, 1.25))]  # a drifting machine, three sittings
    drift = drifts(history)
    counted = compare_reports(base, new, drift=drift)
    assert "drift between invocations is counted" in counted.basis and "2 degree(s) of freedom" in counted.basis
    assert counted.cases[0].verdict is not Verdict.SLOWER  # 30 % is within what it does on its own
    interleaved = report([record([s * 1.3 for s in QUICK])])  # same `started`: one invocation
    assert "interleaved" in compare_reports(base, interleaved).basis


def test_a_cases_own_drift_is_shrunk_toward_the_hardwares_pooled_never_below_it():
    from bench.analysis.baselines import hardware_drifts as drifts

    def history(factors, steady=1.0):
        """Two cases: the first drifts by ``factors``, the second by ``steady`` times as much (log)."""
        return [report([record([s * f for s in QUICK]), record([s * f**steady for s in QUICK], batch_size=2)],
                       started=f"2026-11-{10 + day}T08:00:00+00:00") for day, f in enumerate(factors)]

    wide, calm = "cnn-train-eager-fp32-bs64-cpu", "cnn-train-eager-fp32-bs2-cpu"
    baseline = history((0.8, 1.0, 1.25), steady=0.0)  # the second case does not drift at all
    found = drifts(baseline)
    pooled = found["*"]
    assert found[calm].variance == pytest.approx(pooled.variance)  # never below the pooled drift
    own = own_drift(baseline, wide)
    assert pooled.variance < own  # the case that drifts keeps half its excess (its df = the pooled df)
    assert found[wide].variance == pytest.approx(pooled.variance + (own - pooled.variance) / 2)
    assert found[wide].df == pooled.df == 2  # three sittings of one invocation each
    floored = drifts(history((1.0, 1.0, 1.0)), floor_sd=0.02)
    assert floored["*"].variance == pytest.approx(0.02**2) and floored[wide].variance == pytest.approx(0.02**2)


def test_invocations_of_one_sitting_count_once_in_the_drifts_degrees_of_freedom():
    from bench.analysis.baselines import hardware_drifts as drifts

    def at(stamps):
        return [report([record([s * f for s in QUICK])], started=stamp)
                for stamp, f in zip(stamps, (0.9, 1.0, 1.1, 0.95, 1.05, 1.0), strict=False)]

    back_to_back = at([f"2026-11-30T08:{m:02d}:00+00:00" for m in (0, 4, 8, 12, 16)])
    assert drifts(back_to_back)["*"].df == 1  # one sitting: at least 1, but no more
    spread = at(["2026-11-30T08:00:00+00:00", "2026-11-30T08:04:00+00:00", "2026-11-30T09:00:00+00:00",
                 "2026-11-30T10:30:00+00:00", "2026-11-30T10:34:00+00:00", "2026-12-01T08:00:00+00:00"])
    assert drifts(spread)["*"].df == 3  # four sittings of six invocations


def own_drift(baseline, key) -> float:
    from bench.analysis.stats import drift_estimate

    return drift_estimate([b.find(key).run_step_s for b in baseline])[0]
