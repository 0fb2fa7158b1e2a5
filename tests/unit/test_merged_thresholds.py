"""The merged table of a `bench run --setup ... --fail-above X` decides at X, as its --until-decided did."""

from __future__ import annotations

import io

from rich.console import Console

from bench.analysis.decision import Verdict
from bench.analysis.merge import merged_rows
from bench.render.compare import render_merged
from bench.run.execute import Outcome
from bench.run.request import InvocationRequest
from tests.reports import record, report

BASE = [1.00, 1.01, 0.99, 1.00, 1.02, 0.98]
NEW = [step * 1.08 for step in BASE]  # 7.4 % less throughput, tightly measured: slower at all, same within 10 %


def sides():
    return report([record(BASE)], label="a"), report([record(NEW)], label="b")  # one invocation: interleaved


def test_default_thresholds_call_a_tight_7_percent_drop_slower_and_fail_above_10_calls_it_same():
    default = merged_rows(list(sides()))[0].against_first[1]
    at_ten = merged_rows(list(sides()), fail_above_pct=10.0, margin_pct=10.0)[0].against_first[1]
    assert default.verdict is Verdict.SLOWER
    assert at_ten.verdict is Verdict.SAME
    assert at_ten.estimate.ratio == default.estimate.ratio  # the same data, judged at another threshold


def test_a_runs_outcome_carries_its_thresholds_into_the_merged_table(tmp_path):
    request = InvocationRequest(out=tmp_path, fail_above=10.0)
    outcome = Outcome([], None, None, thresholds=request.decision_thresholds())
    text = io.StringIO()
    render_merged(list(sides()), out=Console(file=text, width=220), thresholds=outcome.thresholds)
    assert " same" in text.getvalue() and "slower" not in text.getvalue().split("verdict)")[1]
