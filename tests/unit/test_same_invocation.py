"""Two reports are one interleaved invocation by its id, not by a start stamp two CI jobs can share."""

from __future__ import annotations

import dataclasses

from bench.analysis.compare import compare_reports
from bench.analysis.decision import Verdict
from tests.reports import record, report

STEPS = [1.00, 1.01, 0.99, 1.00, 1.02, 0.98]


def with_id(one, invocation_id: str):
    return dataclasses.replace(one, invocation=dataclasses.replace(one.invocation, id=invocation_id))


def test_reports_started_in_the_same_second_by_two_invocations_are_not_one_invocation():
    a, b = report([record(STEPS)], label="a"), report([record(STEPS)], label="b")  # one start stamp
    assert with_id(a, "1f2e").same_invocation(with_id(b, "1f2e"))
    assert not with_id(a, "1f2e").same_invocation(with_id(b, "9c0d"))
    assert not with_id(a, "1f2e").same_invocation(b)  # one without an id is another invocation's
    assert a.same_invocation(b)  # reports from before the id: the start stamp, as they were judged then
    # separate invocations whose drift is unknown are not judged as if interleaved
    case = compare_reports(with_id(a, "1f2e"), with_id(b, "9c0d"), fail_above_pct=10.0).cases[0]
    assert case.verdict is not Verdict.SAME and not case.decision.decided
