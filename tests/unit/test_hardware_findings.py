"""A GPU that slows itself down (thermal, hardware, power brake) is a hardware finding: recorded apart from
noise, the case stays comparable, and validate calls it degraded with the reason (issue 19, item 6)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bench.analysis.baselines import recordable
from bench.analysis.compare import Verdict, compare_reports
from bench.results.records import Noise
from bench.run.validate import EXIT_DEGRADED, decide
from tests.reports import QUIET, record, report

RUNS = [0.010, 0.0102, 0.0098, 0.0101, 0.0099]
FINDING = "GPU clocks held down by hardware thermal slowdown"


def throttled(steps, runs=(0, 1, 2, 3, 4)):
    case = record(steps)
    return dataclasses.replace(case, runs=[
        dataclasses.replace(run, noise=Noise(cpu=QUIET, hardware_findings=[FINDING])) if run.index in runs else run
        for run in case.runs])


def test_a_finding_is_not_noise_and_is_kept_per_case():
    case = throttled([s * 1.5 for s in RUNS], runs=(1,))
    assert not case.noisy and case.hardware_findings == [FINDING]
    assert case.runs[1].hardware_findings == [FINDING] and case.runs[0].hardware_findings == []
    row = compare_reports(report([record(RUNS)]), report([case])).cases[0]
    assert row.verdict is Verdict.SLOWER  # the hardware is slower: not set aside as noise


def test_validate_calls_a_finding_degraded_with_its_reason_whatever_the_baseline():
    new = report([throttled(RUNS)])
    findings = {r.key: r.hardware_findings for r in new.cases}
    decision = decide([], [], None, 10.0, Path("results/baselines/x"), 0, None, findings)
    assert decision.exit_code == EXIT_DEGRADED and decision.name == "degraded"
    assert "cnn-train-eager-fp32-bs64-cpu: GPU clocks held down by hardware thermal slowdown" in decision.line
    assert "check cooling and power" in decision.line
    quiet = decide([], [], None, 10.0, Path("results/baselines/x"), 0, None, {"a": []})
    assert quiet.name == "inconclusive"  # no finding, no baseline: cannot decide
    broken = decide(["gpu0 ECC"], [], None, 10.0, Path("x"), 0, None, findings)
    assert broken.name == "broken"  # a failed check outranks a finding


def test_a_run_with_a_finding_is_not_recorded_into_the_baseline():
    assert "slowed itself down" in recordable(report([throttled(RUNS)]), "degraded")
