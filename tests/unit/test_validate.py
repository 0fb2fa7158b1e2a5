"""validate's verdict from envcheck, the run and the comparison; its request; its JUnit XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bench.analysis.compare import compare_reports
from bench.config import RequestError
from bench.results.records import Status
from bench.run.validate import (
    EXIT_BROKEN,
    EXIT_DEGRADED,
    EXIT_HEALTHY,
    EXIT_INCONCLUSIVE,
    ValidateRequest,
    decide,
    junit_suites,
    load_baseline_for,
)
from tests.reports import record, report

RUNS = [0.010, 0.0102, 0.0098, 0.0101, 0.0099]
BASELINE = [report([record([s * f for s in RUNS])]) for f in (0.99, 1.0, 1.01)]
HERE = Path("results/baselines/x")


def verdict(new_runs, baseline=BASELINE, envcheck=(), **kw):
    new = report([record(new_runs, **kw)])
    comparison = compare_reports(baseline, new, margin_pct=10.0)
    return decide(list(envcheck), [r.key for r in new.cases if r.status.broken], comparison, 10.0, HERE,
                  len(baseline))


def test_healthy_degraded_broken():
    assert verdict(RUNS).exit_code == EXIT_HEALTHY
    degraded = verdict([s * 2 for s in RUNS])
    assert degraded.exit_code == EXIT_DEGRADED and "cnn-train-eager-fp32-bs64-cpu -50" in degraded.line
    broken = verdict(RUNS, envcheck=["gpu0 ECC"])
    assert broken.exit_code == EXIT_BROKEN and "envcheck FAIL: gpu0 ECC" in broken.line


def test_inconclusive_when_the_data_cannot_decide():
    few = verdict([s * 2 for s in RUNS], baseline=BASELINE[:2])
    assert few.exit_code == EXIT_INCONCLUSIVE and "2 recorded invocation(s)" in few.line
    assert "apparently slower" in few.line
    busy = verdict([s * 2 for s in RUNS], noisy_runs=(0, 1, 2, 3, 4))
    assert busy.exit_code == EXIT_INCONCLUSIVE and "busy" in busy.line
    none = decide([], [], None, 10.0, HERE, 0)
    assert none.exit_code == EXIT_INCONCLUSIVE and "--record" in none.line
    other = decide([], [], compare_reports(BASELINE, report([record(RUNS, batch_size=8)])), 10.0, HERE, 3)
    assert other.exit_code == EXIT_INCONCLUSIVE and "shares no case" in other.line


def test_request_is_checked_before_anything_runs(tmp_path):
    from bench.run.request import InvocationRequest

    run = InvocationRequest(out=tmp_path / "out")
    with pytest.raises(RequestError, match=r"--fail-above must be a percentage in \[0, 100\), got nan"):
        ValidateRequest(run, fail_above=float("nan"))  # the one rule compare and run use too
    for kwargs, message in (({"baseline": tmp_path / "missing"}, "no such file or folder"),
                            ({"junit_xml": tmp_path}, "is a folder")):
        with pytest.raises(RequestError, match=message):
            ValidateRequest(run, **kwargs).check_disk()


def test_a_corrupt_baseline_is_refused_before_the_run(tmp_path):
    from bench.run.request import InvocationRequest

    bad = tmp_path / "base"
    bad.mkdir()
    (bad / "one.json").write_text('{"torchrig": {"tool": "torchrig.bench"}, "schema_version": 3}')
    request = ValidateRequest(InvocationRequest(out=tmp_path / "out"), baseline=bad)
    with pytest.raises(RequestError, match="cannot use the baseline: .*one.json: \\$: missing field"):
        load_baseline_for(request, "any")


def test_junit_has_a_testcase_per_check_and_case():
    from envcheck import CheckOptions, Probes, build_report
    from tests.fake_nvml import fake_nvml, nvml_error

    env_report = build_report(CheckOptions(quick=True),
                              Probes(nvml=lambda: fake_nvml(nvmlInit=nvml_error("NVML_ERROR_LIBRARY_NOT_FOUND"))))
    new = report([record([s * 2 for s in RUNS]), record([], status=Status.CRASHED, batch_size=8)])
    comparison = compare_reports(BASELINE, new)
    decision = decide([], ["cnn-train-eager-fp32-bs8-cpu"], comparison, 10.0, HERE, 3)
    from envcheck.junit import junit_xml

    root = ET.fromstring(junit_xml("torchrig.validate", junit_suites(env_report, comparison, new, decision, 10.0)))
    suites = {s.get("name"): s for s in root}
    cases = {c.get("name"): c for c in suites["validate"]}
    assert cases["cnn-train-eager-fp32-bs64-cpu"].find("failure").get("message").startswith("slower beyond 10%")
    assert "crashed" in cases["cnn-train-eager-fp32-bs8-cpu"].find("failure").get("message")
    assert cases["verdict"].find("failure") is not None
    assert int(suites["envcheck"].get("tests")) == len(env_report.checks)
    assert suites["validate"].get("failures") == "3"


def test_undecided_is_inconclusive_never_healthy():
    """Runs too spread to rule out a 10 % slowdown: exit 4, with what the spread could tell."""
    wide = verdict([0.010, 0.014, 0.008, 0.012, 0.009])
    assert wide.exit_code == EXIT_INCONCLUSIVE and "0 of 1 cases decided" in wide.line and "could tell >=" in wide.line
    assert verdict(RUNS).line.startswith("validate: healthy: all 1 cases") and "rule out" in verdict(RUNS).line
