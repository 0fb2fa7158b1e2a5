"""validate end to end: a baseline set found by fingerprint, --record adding a clean run, JUnit XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from bench.__main__ import main as bench
from bench.analysis.baselines import load_baseline, record
from envcheck import snapshot
from envcheck.fingerprint import hardware_fingerprint
from tests.conftest import FAST
from tests.reports import record as case_record
from tests.reports import report

# three runs of 0.25 s windows: a blip that flags one run as noisy sets it aside without making the case noisy
CASE = ["--device", "cpu", "--models", "mlp", "--modes", "infer", "--backends", "eager", "--precisions", "fp32",
        "--batch-sizes", "4", "--runs", "3", *FAST, "--min-round-s", "0.02"]


@pytest.mark.slow
def test_validate_against_a_much_faster_baseline_is_degraded_from_any_folder(tmp_path, monkeypatch, capsys):
    environment = snapshot()
    folder = tmp_path / "baselines" / hardware_fingerprint(environment.facts, "cpu").id
    for index in range(3):  # three recorded sittings, a thousand times faster than this machine
        fast = report([case_record([1e-7 * (1 + 0.01 * i) for i in range(3)], model="mlp", mode="infer",
                                   batch_size=4)], environment=environment,
                      started=f"2026-11-{10 + index}T08:00:00+00:00")
        fast.dump(folder / f"run{index}.json")
    monkeypatch.chdir(tmp_path)  # the baseline is found by fingerprint, not by the current folder
    code = bench(["validate", *CASE, "--baselines", str(tmp_path / "baselines"), "--record",
                  "--junit-xml", str(tmp_path / "validate.xml"), "--out", str(tmp_path / "results")])
    out = capsys.readouterr().out
    assert code == 3, out[-3000:]
    verdict = out.strip().splitlines()[-1]
    assert verdict.startswith("validate: degraded: 1 case(s) significantly slower than") and str(folder) in verdict
    assert "3 recorded invocation(s) in 3 sitting(s)" in out
    # a run that is neither broken nor noisy is recorded, degraded or not: keeping only healthy ones would bias
    # the set's spread narrow
    assert "validate: recorded" in out and len(load_baseline(folder)) == 4
    root = ET.parse(tmp_path / "validate.xml").getroot()
    cases = {c.get("name"): c for suite in root for c in suite}
    assert cases["mlp-infer-eager-fp32-bs4-cpu"].find("failure") is not None
    assert cases["compile cpu"].find("failure") is None  # envcheck's checks are testcases too


def test_record_adds_a_report_and_never_replaces_one(tmp_path):
    first = report([case_record([0.01, 0.011])]).dump(tmp_path / "r.json")
    folder = tmp_path / "baseline"
    assert record(first, folder).name == "r.json"
    try:
        record(first, folder)
    except FileExistsError:
        pass
    else:
        raise AssertionError("recorded over an earlier baseline run")
    assert len(load_baseline(folder)) == 1
